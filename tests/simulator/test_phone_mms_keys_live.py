"""The phone side of upstream's newer API, over real HTTP against the reference server on SQLite and MariaDB:
device keys (PR #258: `publicKey`/`keyVersion` on POST and PATCH /device) and outgoing MMS (client-go 1.15:
`mmsMessage` pulled, sent as one unit, reported Processed -> Sent -> Delivered)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from conftest import make_settings
from sse_client import served
from test_phone_live import API, FAST, Recorder, Server, running, until

from reference_server.app import create_app
from simulator.phone import Phone, PhoneConfig, RadioConfig, encrypt_text

pytestmark = pytest.mark.slow

KEY_1 = base64.b64encode(b"-----BEGIN PUBLIC KEY----- one").decode()
KEY_2 = base64.b64encode(b"-----BEGIN PUBLIC KEY----- two").decode()
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(64))).decode()
MMS = {"subject": "Hello", "text": "see the picture",
       "attachments": [{"contentType": "image/png", "name": "a.png", "data": PNG},
                       {"contentType": "text/plain", "data": base64.b64encode(b"caption").decode()}]}


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sim.db'}"
    return str(request.getfixturevalue("mariadb_url"))


@asynccontextmanager
async def server_on(tmp_path: Path, database_url: str) -> AsyncIterator[Server]:
    app = create_app(make_settings(tmp_path, database_url))
    async with served(app) as base, httpx.AsyncClient(timeout=10) as http:
        yield Server(base, http, app)


async def devices(server: Server, phone: Phone) -> list[dict[str, object]]:
    reg = phone.registration
    assert reg is not None and reg.password is not None
    response = await server.http.get(f"{server.base}{API}/devices", auth=(reg.login, reg.password))
    return list(response.json())


async def test_device_key_sent_at_registration_and_in_the_patch(tmp_path: Path, database_url: str) -> None:
    recorder = Recorder()
    async with server_on(tmp_path, database_url) as server, recorder:
        config = PhoneConfig(server=server.mobile, radio=FAST, public_key=KEY_1, key_version=1)
        first = Phone(config, http=recorder.client())
        async with running(first):
            [device] = await devices(server, first)
            assert (device["publicKey"], device["keyVersion"]) == (KEY_1, 1)
        # the next start (the same registration) PATCHes /device with a rotated key
        second = Phone(replace(config, public_key=KEY_2, key_version=2), http=recorder.client())
        second.registration = first.registration
        async with running(second):
            await until(lambda: any(m == "PATCH" and p == "/device" for m, p, _ in recorder.requests))
            [device] = await devices(server, first)
            assert (device["publicKey"], device["keyVersion"]) == (KEY_2, 2)
    register = json.loads(next(b for m, p, b in recorder.requests if (m, p) == ("POST", "/device")))
    patch = json.loads(next(b for m, p, b in recorder.requests if (m, p) == ("PATCH", "/device")))
    assert (register["publicKey"], register["keyVersion"]) == (KEY_1, 1)
    assert (patch["publicKey"], patch["keyVersion"]) == (KEY_2, 2)


async def test_a_phone_without_a_key_sends_none(tmp_path: Path) -> None:
    recorder = Recorder()
    async with server_on(tmp_path, f"sqlite:///{tmp_path / 'sim.db'}") as server, recorder:
        phone = Phone(PhoneConfig(server=server.mobile, radio=FAST), http=recorder.client())
        async with running(phone):
            [device] = await devices(server, phone)
    register = json.loads(next(b for m, p, b in recorder.requests if (m, p) == ("POST", "/device")))
    assert "publicKey" not in register and "keyVersion" not in register
    assert device.get("publicKey") is None


async def test_mms_pulled_sent_delivered_and_kept_with_its_parts(tmp_path: Path, database_url: str) -> None:
    recorder = Recorder()
    async with server_on(tmp_path, database_url) as server, recorder:
        phone = Phone(PhoneConfig(server=server.mobile, radio=FAST), http=recorder.client())
        async with running(phone):
            message_id = await server.send(phone, {"mmsMessage": MMS, "phoneNumbers": ["+79990000001"]})
            final = await server.until_state(phone, message_id, "Delivered")
    assert final["recipients"] == [{"phoneNumber": "+79990000001", "state": "Delivered"}]
    assert set(final["states"]) == {"Pending", "Processed", "Sent", "Delivered"}
    local = phone.store.get(message_id)
    assert local is not None and local.kind == "mms" and local.text is None and local.data is None
    assert local.mms == MMS
    assert local.parts_count == 1
    items = [json.loads(body)[0] for body in recorder.patches(message_id)]
    sent = [item for item in items if item["state"] == "Sent"]
    assert len(sent) == 1  # one MMS is one part: one Sent report, not one per attachment


async def test_mms_failed_by_the_radio_is_reported_failed(tmp_path: Path) -> None:
    failing = RadioConfig(sent_latency=(0.02, 0.05), send_failure_rate=1.0, seed=5)
    async with server_on(tmp_path, f"sqlite:///{tmp_path / 'sim.db'}") as server:
        phone = Phone(PhoneConfig(server=server.mobile, radio=failing))
        async with running(phone):
            message_id = await server.send(phone, {"mmsMessage": MMS, "phoneNumbers": ["+79990000001"]})
            final = await server.until_state(phone, message_id, "Failed")
    [recipient] = final["recipients"]
    assert recipient["state"] == "Failed" and recipient["error"].startswith("Send result: ")
    local = phone.store.get(message_id)
    assert local is not None and local.kind == "mms" and local.state == "Failed"


async def test_encrypted_mms_parts_are_decrypted_and_checked(tmp_path: Path) -> None:
    passphrase = "correct horse"
    async with server_on(tmp_path, f"sqlite:///{tmp_path / 'sim.db'}") as server:
        phone = Phone(PhoneConfig(server=server.mobile, passphrase=passphrase, radio=FAST))
        number = encrypt_text(passphrase, "+79990000005", iterations=10_000)

        def encrypted(data: str) -> dict[str, object]:
            part = {"contentType": "image/png", "data": encrypt_text(passphrase, data, iterations=10_000)}
            return {"mmsMessage": {"attachments": [part]}, "phoneNumbers": [number], "isEncrypted": True}

        async with running(phone):
            good = await server.send(phone, encrypted(PNG))
            bad = await server.send(phone, encrypted("not base64!"))  # only the phone can see this
            await server.until_state(phone, good, "Delivered")
            failed = await server.until_state(phone, bad, "Failed")
    assert failed["recipients"][0]["error"] == f"Can't send message: Invalid Base64 data for message {bad}"
