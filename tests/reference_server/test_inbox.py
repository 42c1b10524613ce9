"""The stored inbox (upstream 1.48): upload by the phone, listing, attachments, cleanup."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from conftest import Api, error_of, make_settings, open_api

from reference_server.config import load_settings
from reference_server.domain.clock import now

INBOX = "/api/3rdparty/v1/inbox"
UPLOAD = "/api/mobile/v1/inbox"
PICTURE = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def item(ext_id: str, created_at: str, **extra: Any) -> dict[str, Any]:
    return {"id": ext_id, "type": "SMS", "sender": "+79990001122", "content": f"sealed-{ext_id}",
            "isEncrypted": True, "createdAt": created_at, **extra}


def device(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['token']}"}


def auth(user: dict[str, Any]) -> tuple[str, str]:
    return user["login"], user["password"]


async def upload(api: Api, user: dict[str, Any], batch: Any) -> int:
    return (await api.client.post(UPLOAD, headers=device(user), json=batch)).status_code


async def test_upload_list_and_download(api: Api) -> None:
    user = await api.register()
    mms = item("m3", "2026-10-01T12:00:02.5+03:00", type="MMS", recipient="+79990003344", simNumber=2,
               attachments=[{"partId": 7, "contentType": "image/png", "name": "cat\r\n.png", "size": len(PICTURE),
                             "data": base64.b64encode(PICTURE).decode()}])
    batch = [item("m1", "2026-10-01T09:00:00Z"), item("m2", "2026-10-01T09:00:01Z", type="DATA_SMS"), mms]
    assert await upload(api, user, batch) == 201
    # A repeated upload (the phone retrying) is ignored silently; the stored copy stays.
    again = [item("m1", "2026-10-01T09:00:00Z", content="changed"), item("m4", "2026-10-02T00:00:00Z")]
    assert await upload(api, user, again) == 201

    listed = await api.client.get(INBOX, auth=auth(user))
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "4"
    assert [m["id"] for m in listed.json()] == ["m4", "m3", "m2", "m1"]  # newest first
    shown = {m["id"]: m for m in listed.json()}
    assert shown["m1"]["contentPreview"] == "sealed-m1"
    assert shown["m3"] == {"id": "m3", "type": "MMS", "sender": "+79990001122", "recipient": "+79990003344",
                           "simNumber": 2, "contentPreview": "sealed-m3", "isEncrypted": True,
                           "createdAt": "2026-10-01T09:00:02.500Z",
                           "attachments": [{"partId": 7, "name": "cat\r\n.png", "size": len(PICTURE),
                                            "contentType": "image/png"}]}

    page = await api.client.get(INBOX, auth=auth(user), params={"limit": 2, "offset": 1})
    assert [m["id"] for m in page.json()] == ["m3", "m2"] and page.headers["X-Total-Count"] == "4"
    typed = await api.client.get(INBOX, auth=auth(user), params={"type": "DATA_SMS"})
    assert [m["id"] for m in typed.json()] == ["m2"] and typed.headers["X-Total-Count"] == "1"
    window = await api.client.get(INBOX, auth=auth(user), params={"from": "2026-10-01T09:00:01Z",
                                                                  "to": "2026-10-01T12:00:02.5+03:00"})
    assert [m["id"] for m in window.json()] == ["m3", "m2"]
    by_device = await api.client.get(INBOX, auth=auth(user), params={"deviceId": user["id"]})
    assert by_device.headers["X-Total-Count"] == "4"

    part = await api.client.get(f"{INBOX}/m3/attachments/7", auth=auth(user))
    assert part.status_code == 200 and part.content == PICTURE
    assert part.headers["Content-Type"] == "image/png"
    assert part.headers["Content-Disposition"] == 'attachment; filename="cat__.png"'
    assert "not found" in error_of(await api.client.get(f"{INBOX}/m3/attachments/8", auth=auth(user)), 404)
    assert "not found" in error_of(await api.client.get(f"{INBOX}/m9/attachments/7", auth=auth(user)), 404)
    assert error_of(await api.client.get(f"{INBOX}/m3/attachments/x", auth=auth(user)), 400) == "invalid partId"

    # Another user sees none of it.
    other = await api.register()
    assert (await api.client.get(INBOX, auth=auth(other))).json() == []
    error_of(await api.client.get(f"{INBOX}/m3/attachments/7", auth=auth(other)), 404)


async def test_upload_refusals_store_nothing(api: Api) -> None:
    user = await api.register()
    good = item("ok", "2026-10-01T09:00:00Z")
    assert error_of(await api.client.post(UPLOAD, headers=device(user), json=[]), 400) == \
        "batch must contain at least one message"
    assert error_of(await api.client.post(UPLOAD, headers=device(user),
                                          json=[good, item("plain", "2026-10-01T09:00:00Z", isEncrypted=False)]),
                    400) == "inbox messages must be encrypted"
    for bad in (item("x" * 37, "2026-10-01T09:00:00Z"), item("t", "2026-10-01T09:00:00Z", type="FAX"),
                item("d", "yesterday"), item("s", "2026-10-01T09:00:00Z", sender="1" * 513),
                item("a", "2026-10-01T09:00:00Z", attachments=[{"partId": 1, "contentType": "a/b", "data": "%%"}]),
                item("h", "2026-10-01T09:00:00Z", attachments=[{"partId": 1, "contentType": "a\nb", "data": ""}]),
                {"id": "n", "type": "SMS"}):
        assert await upload(api, user, [good, bad]) == 400, bad
    assert (await api.client.post(UPLOAD, json=[good])).status_code == 401
    listed = await api.client.get(INBOX, auth=auth(user))
    assert listed.json() == [] and listed.headers["X-Total-Count"] == "0"


async def token(api: Api, user: dict[str, Any], scope: str) -> dict[str, str]:
    issued = await api.client.post("/api/3rdparty/v1/auth/token", json={"scopes": [scope]}, auth=auth(user))
    return {"Authorization": f"Bearer {issued.json()['access_token']}"}


async def test_scopes_and_cleanup(tmp_path: Any, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, sqlite_url, JWT__SECRET="s3cret-s3cret-s3cret-s3cret-s3cret!",
                             TASKS__INBOX_CLEANUP__MAX_AGE="720h")
    async for api in open_api(settings):
        user = await api.register()
        old, recent = now() - timedelta(days=31), now() - timedelta(days=29)
        assert await upload(api, user, [
            item("old", old.isoformat() + "Z", attachments=[{"partId": 1, "contentType": "a/b", "data": "AA=="}]),
            item("recent", recent.isoformat() + "Z")]) == 201

        lister, reader = await token(api, user, "inbox:list"), await token(api, user, "inbox:read")
        assert (await api.client.get(INBOX, headers=lister)).status_code == 200
        assert (await api.client.get(INBOX, headers=reader)).status_code == 403
        assert (await api.client.get(f"{INBOX}/old/attachments/1", headers=reader)).content == b"\0"
        assert (await api.client.get(f"{INBOX}/old/attachments/1", headers=lister)).status_code == 403

        task = next(t for t in api.services.periodic if t.name == "inbox:cleanup")
        # upstream's default interval (make_settings turns the timer off for the tests: the job is run below)
        defaults = load_settings(config_path=None, environ={}, dotenv_path=tmp_path / "absent.env")
        assert defaults.tasks.inbox_cleanup.interval == timedelta(hours=24)
        assert await task.job() == 1
        assert [m["id"] for m in (await api.client.get(INBOX, headers=lister)).json()] == ["recent"]
        error_of(await api.client.get(f"{INBOX}/old/attachments/1", headers=reader), 404)


async def test_device_filter_with_control_characters_is_refused(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.client.get("/api/3rdparty/v1/inbox", params={"deviceId": "a\x0bbcdefghijklmnopqrst"},
                                           auth=(user["login"], user["password"]))
    assert "control characters" in error_of(response, 400)


async def test_a_part_sent_twice_is_stored_once(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    parts = [{"partId": 1, "contentType": "text/plain", "name": "a.txt", "data": base64.b64encode(data).decode()}
             for data in (b"first", b"second")]
    sent = item("mms-twice", "2026-01-01T10:00:00.000Z", type="MMS", attachments=parts)
    assert await upload(sqlite_api, user, [sent]) == 201
    part = await sqlite_api.client.get(f"{INBOX}/mms-twice/attachments/1", auth=auth(user))
    assert part.status_code == 200 and part.content == b"first"


async def test_a_nul_character_is_refused_on_every_backend(api: Api) -> None:
    """PostgreSQL text holds no NUL, so the inbox refuses one in any text on every database alike (400, nothing
    of the batch stored)."""
    user = await api.register()
    mms = item("m", "2026-10-01T09:00:02Z", type="MMS", attachments=[
        {"partId": 1, "contentType": "image/png", "name": "a\x00.png", "data": base64.b64encode(PICTURE).decode()}])
    for bad in (item("n\x00l", "2026-10-01T09:00:01Z"), item("s", "2026-10-01T09:00:01Z", sender="+7\x00"),
                item("c", "2026-10-01T09:00:01Z", content="x\x00"), mms):
        response = await api.client.post(UPLOAD, headers=device(user), json=[item("ok", "2026-10-01T09:00:00Z"), bad])
        error_of(response, 400)
    assert (await api.client.get(INBOX, auth=auth(user))).headers["X-Total-Count"] == "0"


@pytest.mark.postgresql
async def test_a_nul_character_elsewhere_is_a_400_on_postgresql(tmp_path: Any, postgres_url: str) -> None:
    """Where a NUL may be stored on SQLite and MariaDB (a device name), PostgreSQL's refusal is a 400, not a 500."""
    async for api in open_api(make_settings(tmp_path, postgres_url)):
        named = await api.client.post("/api/mobile/v1/device", json={"name": "phone\x00"})
        assert "NUL" in error_of(named, 400)
