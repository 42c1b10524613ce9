"""Device keys and longer numbers (upstream PR #258): `publicKey`/`keyVersion` on the device routes, recipients up
to 512 characters, `pushToken: ""` stored as null; migration 0008 on a database with rows."""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import Api

from reference_server.storage.database import create_engine
from reference_server.storage.migrate import downgrade, upgrade
from reference_server.storage.tables import devices, message_recipients, messages, users

MOBILE = "/api/mobile/v1"
KEY = base64.b64encode(b"\x30\x82" + bytes(range(256)) * 2).decode()


def phone(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['token']}"}


async def listed(api: Api, user: dict[str, Any]) -> dict[str, Any]:
    answer = await api.client.get("/api/3rdparty/v1/devices", auth=(user["login"], user["password"]))
    assert answer.status_code == 200, answer.text
    return dict(answer.json()[0])


async def stored_push_token(api: Api, device_id: str) -> str | None:
    device = await api.services.accounts.devices.get((await api.services.accounts.devices.routes([device_id]))[
        device_id].user_id, device_id)
    return device.push_token  # type: ignore[no-any-return]


async def test_keys_on_registration_patch_and_both_listings(api: Api) -> None:
    user = await api.register(name="keyed", publicKey=KEY, keyVersion=1)
    shown = await listed(api, user)
    assert shown["publicKey"] == KEY and shown["keyVersion"] == 1
    mine = (await api.client.get(f"{MOBILE}/device", headers=phone(user))).json()["device"]
    assert mine["publicKey"] == KEY and mine["keyVersion"] == 1

    rotated = base64.b64encode(b"rotated-key").decode()
    patched = await api.client.patch(f"{MOBILE}/device", headers=phone(user),
                                     json={"id": user["id"], "publicKey": rotated, "keyVersion": 2})
    assert patched.status_code == 204, patched.text
    mine = (await api.client.get(f"{MOBILE}/device", headers=phone(user))).json()["device"]
    assert (mine["publicKey"], mine["keyVersion"]) == (rotated, 2)  # not the copy cached before the PATCH
    # Absent and null leave the key alone: a stored key is never cleared.
    for body in ({"id": user["id"]}, {"id": user["id"], "publicKey": None, "keyVersion": None}):
        assert (await api.client.patch(f"{MOBILE}/device", headers=phone(user), json=body)).status_code == 204
    shown = await listed(api, user)
    assert (shown["publicKey"], shown["keyVersion"]) == (rotated, 2)


async def test_a_patch_drops_only_its_own_device_from_the_cache(api: Api) -> None:
    """The device cache is keyed by token: a PATCH drops that entry alone (a scan of the whole cache per PATCH made
    the start-up of 10,000 phones quadratic), and the other phones stay cached."""
    first = await api.register(name="first")
    second = await api.register(auth=(first["login"], first["password"]), name="second")
    for user in (first, second):
        assert (await api.client.get(f"{MOBILE}/device", headers=phone(user))).status_code == 200
    cache = api.services.accounts._devices
    assert cache.get(first["token"]) is not None and cache.get(second["token"]) is not None

    rotated = base64.b64encode(b"second-key").decode()
    patched = await api.client.patch(f"{MOBILE}/device", headers=phone(second),
                                     json={"id": second["id"], "publicKey": rotated, "keyVersion": 3})
    assert patched.status_code == 204, patched.text
    assert cache.get(second["token"]) is None and cache.get(first["token"]) is not None
    mine = (await api.client.get(f"{MOBILE}/device", headers=phone(second))).json()["device"]
    assert (mine["publicKey"], mine["keyVersion"]) == (rotated, 3)


async def test_a_device_without_a_key_shows_none(api: Api) -> None:
    user = await api.register()
    shown = await listed(api, user)
    assert "publicKey" not in shown and "keyVersion" not in shown


@pytest.mark.parametrize("bad", [
    {"publicKey": "not base64!"}, {"publicKey": ""}, {"publicKey": "QUFB" * 1025}, {"publicKey": 7},
    {"keyVersion": 0}, {"keyVersion": -1}, {"keyVersion": 2**31}, {"keyVersion": "1"}, {"keyVersion": 1.5},
])
async def test_bad_keys_are_400_and_store_nothing(api: Api, bad: dict[str, Any]) -> None:
    user = await api.register()
    refused = await api.client.post(f"{MOBILE}/device", json={"name": "x", **bad})
    assert refused.status_code == 400, refused.text
    assert refused.json()["message"]
    patched = await api.client.patch(f"{MOBILE}/device", headers=phone(user), json={"id": user["id"], **bad})
    assert patched.status_code == 400, patched.text
    assert "publicKey" not in await listed(api, user)


async def test_an_empty_push_token_is_stored_as_null(api: Api) -> None:
    user = await api.register(name="p", pushToken="fcm-token-1")
    assert await stored_push_token(api, user["id"]) == "fcm-token-1"
    assert (await api.client.patch(f"{MOBILE}/device", headers=phone(user), json={"id": user["id"]})).status_code == 204
    assert await stored_push_token(api, user["id"]) == "fcm-token-1"  # absent: unchanged
    cleared = await api.client.patch(f"{MOBILE}/device", headers=phone(user), json={"id": user["id"], "pushToken": ""})
    assert cleared.status_code == 204
    assert await stored_push_token(api, user["id"]) is None
    other = await api.register(name="q", pushToken="")
    assert await stored_push_token(api, other["id"]) is None


async def test_recipients_up_to_512_characters(api: Api) -> None:
    user = await api.register()
    auth = (user["login"], user["password"])
    sealed = "A" * 512  # ciphertext of a number: not normalised
    sent = await api.send(user, {"textMessage": {"text": "x"}, "phoneNumbers": [sealed], "isEncrypted": True})
    assert sent.status_code == 202, sent.text
    state = (await api.client.get(f"/api/3rdparty/v1/messages/{sent.json()['id']}", auth=auth)).json()
    assert state["recipients"][0]["phoneNumber"] == sealed
    report = await api.client.patch(f"{MOBILE}/message", headers=phone(user), json=[
        {"id": sent.json()["id"], "state": "Sent", "recipients": [{"phoneNumber": sealed, "state": "Sent"}]}])
    assert report.status_code == 204, report.text
    state = (await api.client.get(f"/api/3rdparty/v1/messages/{sent.json()['id']}", auth=auth)).json()
    assert state["recipients"][0]["state"] == "Sent"
    too_long = await api.send(user, {"textMessage": {"text": "x"}, "phoneNumbers": ["A" * 513], "isEncrypted": True})
    assert too_long.status_code == 400


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
async def test_migration_0008_on_a_database_with_rows(backend: str, tmp_path: Path,
                                                      request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite" else request.getfixturevalue("fresh_mariadb_url")
    engine = create_engine(url)
    moment = datetime(2026, 1, 1, 10, 0, 0)
    try:
        upgrade(engine, "0007")
        with engine.begin() as conn:
            conn.execute(users.insert().values(id="olduser", password_hash="x", created_at=moment, updated_at=moment))
            conn.execute(sa.insert(sa.table("devices", *(sa.column(c) for c in (
                "id", "auth_token", "user_id", "sim_cards", "last_seen", "created_at", "updated_at")))).values(
                id="d" * 21, auth_token="t" * 21, user_id="olduser", sim_cards="[]", last_seen=moment,
                created_at=moment, updated_at=moment))
            message_id = conn.execute(messages.insert().values(
                device_id="d" * 21, ext_id="m1", type="Text", content="{}", state="Pending",
                with_delivery_report=True, priority=0, is_hashed=False, is_encrypted=False, created_at=moment,
                updated_at=moment)).inserted_primary_key[0]
            conn.execute(message_recipients.insert().values(message_id=message_id, phone_number="+79990001122",
                                                            state="Pending"))
        upgrade(engine)
        with engine.begin() as conn:
            row = conn.execute(sa.select(devices.c.public_key, devices.c.key_version, devices.c.user_id)).one()
            assert tuple(row) == (None, None, "olduser")
            # 512 characters, and two recipients that differ only in case stay distinct (migration 0006's collation).
            conn.execute(message_recipients.insert(), [
                {"message_id": message_id, "phone_number": "b" * 512, "state": "Pending"},
                {"message_id": message_id, "phone_number": "B" * 512, "state": "Pending"}])
            conn.execute(devices.update().values(public_key=KEY, key_version=3))
            conn.execute(messages.insert().values(
                device_id="d" * 21, ext_id="mms", type="Mms", content="{}", state="Pending",
                with_delivery_report=True, priority=0, is_hashed=False, is_encrypted=False, created_at=moment,
                updated_at=moment))
            phones = sorted(conn.execute(sa.select(message_recipients.c.phone_number)).scalars())
            assert phones == ["+79990001122", "B" * 512, "b" * 512]
            assert conn.execute(sa.select(devices.c.public_key)).scalar_one() == KEY
        with engine.begin() as conn:
            conn.execute(message_recipients.delete().where(sa.func.length(message_recipients.c.phone_number) > 128))
        downgrade(engine, "0007")
        assert "public_key" not in {c["name"] for c in sa.inspect(engine).get_columns("devices")}
        upgrade(engine)
        with engine.begin() as conn:
            assert conn.execute(sa.select(messages.c.ext_id)).scalars().all() == ["m1"]
    finally:
        engine.dispose()
