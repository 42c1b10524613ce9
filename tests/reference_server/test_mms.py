"""Outgoing MMS (client-go 1.15): `mmsMessage` on send, exactly one kind of content, `includeContent` and the
phone's pull return it, and hostile input is a 400 that stores nothing."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from conftest import Api, error_of, make_settings, open_api

TP = "/api/3rdparty/v1"
PHONE = "+79990001122"
PICTURE = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256))).decode()
MMS = {"subject": "Hello", "text": "see the picture",
       "attachments": [{"contentType": "image/png", "name": "a.png", "data": PICTURE}]}


def creds(user: dict[str, Any]) -> tuple[str, str]:
    return user["login"], user["password"]


async def total(api: Api, user: dict[str, Any]) -> int:
    listed = await api.client.get(f"{TP}/messages", auth=creds(user))
    return int(listed.headers["X-Total-Count"])


async def test_send_list_pull_and_report(api: Api) -> None:
    user = await api.register()
    sent = await api.send(user, {"mmsMessage": MMS, "phoneNumbers": [PHONE]})
    assert sent.status_code == 202, sent.text
    assert sent.json()["mmsMessage"] == MMS
    message_id = sent.json()["id"]
    assert (await api.client.get(f"{TP}/messages/{message_id}", auth=creds(user))).json()["mmsMessage"] == MMS
    with_content = await api.client.get(f"{TP}/messages", params={"includeContent": "true"}, auth=creds(user))
    assert with_content.json()[0]["mmsMessage"] == MMS
    without = (await api.client.get(f"{TP}/messages", auth=creds(user))).json()[0]
    assert "mmsMessage" not in without and "textMessage" not in without

    phone = {"Authorization": f"Bearer {user['token']}"}
    pulled = (await api.client.get("/api/mobile/v1/message", headers=phone)).json()
    assert len(pulled) == 1 and pulled[0]["mmsMessage"] == MMS
    assert "message" not in pulled[0] and "textMessage" not in pulled[0] and pulled[0]["phoneNumbers"] == [PHONE]
    report = await api.client.patch("/api/mobile/v1/message", headers=phone, json=[
        {"id": message_id, "state": "Sent", "recipients": [{"phoneNumber": PHONE, "state": "Sent"}]}])
    assert report.status_code == 204
    assert (await api.client.get(f"{TP}/messages/{message_id}", auth=creds(user))).json()["state"] == "Sent"


async def test_minimal_forms(api: Api) -> None:
    user = await api.register()
    only_text = await api.send(user, {"mmsMessage": {"text": "just text"}, "phoneNumbers": [PHONE]})
    assert only_text.status_code == 202 and only_text.json()["mmsMessage"] == {"text": "just text", "attachments": []}
    part = {"contentType": "image/png", "data": PICTURE}
    only_part = await api.send(user, {"mmsMessage": {"attachments": [part]}, "phoneNumbers": [PHONE]})
    assert only_part.status_code == 202 and only_part.json()["mmsMessage"] == {"attachments": [part]}


async def test_encrypted_parts_are_stored_verbatim(api: Api) -> None:
    user = await api.register()
    sealed = {"subject": "$aes-256-cbc/pbkdf2-sha1$i=75000$c2FsdA==$c3ViamVjdA==",
              "attachments": [{"contentType": "image/png", "name": "$aes$x",
                               "data": "$aes-256-cbc/pbkdf2-sha1$i=1$a$b"}]}
    sent = await api.send(user, {"mmsMessage": sealed, "phoneNumbers": ["sealed-number"], "isEncrypted": True})
    assert sent.status_code == 202, sent.text
    assert sent.json()["mmsMessage"] == sealed and sent.json()["isEncrypted"] is True


async def test_a_hashed_mms_shows_only_its_hash(api: Api) -> None:
    user = await api.register()
    sent = await api.send(user, {"mmsMessage": MMS, "phoneNumbers": [PHONE]})
    phone = {"Authorization": f"Bearer {user['token']}"}
    await api.client.patch("/api/mobile/v1/message", headers=phone, json=[
        {"id": sent.json()["id"], "state": "Delivered", "recipients": [{"phoneNumber": PHONE, "state": "Delivered"}]}])
    assert await api.services.maintenance.hash_messages() == 1
    shown = (await api.client.get(f"{TP}/messages/{sent.json()['id']}", auth=creds(user))).json()
    assert shown["isHashed"] is True and "mmsMessage" not in shown and len(shown["hashedMessage"]["hash"]) == 64


def part(**fields: Any) -> dict[str, Any]:
    return {"contentType": "image/png", "data": PICTURE, **fields}


HOSTILE: list[Any] = [
    {"mmsMessage": MMS, "textMessage": {"text": "x"}},
    {"mmsMessage": MMS, "dataMessage": {"data": "AAAA", "port": 1}},
    {"mmsMessage": MMS, "message": "legacy"},
    {"mmsMessage": {}},
    {"mmsMessage": {"text": "", "attachments": []}},
    {"mmsMessage": {"subject": "only a subject"}},
    {"mmsMessage": None, "textMessage": None},
    {"mmsMessage": "text"},
    {"mmsMessage": [MMS]},
    {"mmsMessage": {"attachments": part()}},
    {"mmsMessage": {"attachments": [part()] * 11}},
    {"mmsMessage": {"attachments": [part(data="not base64!")]}},
    {"mmsMessage": {"attachments": [part(data="")]}},
    {"mmsMessage": {"attachments": [part(data=7)]}},
    {"mmsMessage": {"attachments": [{"data": PICTURE}]}},
    {"mmsMessage": {"attachments": [part(contentType="")]}},
    {"mmsMessage": {"attachments": [part(contentType="image/png\r\nX-Evil: 1")]}},
    {"mmsMessage": {"attachments": [part(contentType="x" * 129)]}},
    {"mmsMessage": {"attachments": [part(name="n" * 513)]}},
    {"mmsMessage": {"attachments": [part(name=["a"])]}},
    {"mmsMessage": {"subject": "s" * 1025, "text": "x"}},
    {"mmsMessage": {"text": "t" * 65536}},
    {"mmsMessage": {"text": 5}},
]


@pytest.mark.parametrize("body", HOSTILE)
async def test_hostile_input_is_400_and_stores_nothing(sqlite_api: Api, body: dict[str, Any]) -> None:
    user = await sqlite_api.register()
    refused = await sqlite_api.send(user, {"phoneNumbers": [PHONE], **body})
    assert error_of(refused, 400)
    assert await total(sqlite_api, user) == 0


async def test_the_parts_together_are_capped(tmp_path: Any, database_url: str) -> None:
    async for api in open_api(make_settings(tmp_path, database_url, HTTP__MAX_BODY_BYTES="4000000")):
        user = await api.register()
        half = base64.b64encode(b"\x00" * 524_288).decode()  # 512 KiB decoded each: exactly 1 MiB for two
        fits = await api.send(user, {"mmsMessage": {"attachments": [part(data=half)] * 2}, "phoneNumbers": [PHONE]})
        assert fits.status_code == 202, fits.text[:200]
        over = await api.send(user, {"mmsMessage": {"attachments": [part(data=half)] * 2 + [part(data="AAAA")]},
                                     "phoneNumbers": [PHONE]})
        assert "at most" in error_of(over, 400)
        assert await total(api, user) == 1
