"""Simulated phones upload what they receive (`inbox_upload`, the app's pending change) to the reference
server's `POST /mobile/v1/inbox` over real HTTP, and `GET /3rdparty/v1/inbox` lists it: on SQLite and
MariaDB, encrypted with the phone's passphrase, data-SMS ids as the app derives them, a backlog above
500 split into batches of 500, duplicates ignored by the server, nothing uploaded without a passphrase."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from conftest import make_settings
from live_server import LiveServer
from sse_client import served
from test_phone_live import FAST, running, until

from reference_server.app import create_app
from simulator.load.inbound import TEXT_PREFIX
from simulator.phone import Phone, PhoneConfig
from simulator.phone.crypto import decrypt_text

pytestmark = pytest.mark.slow

INBOX = "/api/3rdparty/v1/inbox"
PASSPHRASE = "inbox secret"


@asynccontextmanager
async def server_on(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    app = create_app(make_settings(tmp_path, database_url))
    async with served(app) as base, httpx.AsyncClient(timeout=30) as http:
        yield base, http


def batch_sizes(client: httpx.AsyncClient) -> list[int]:
    """Record the number of items in each POST /inbox the phone sends through `client`."""
    sizes: list[int] = []

    async def record(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/inbox"):
            sizes.append(len(json.loads(request.content)))

    client.event_hooks["request"].append(record)
    return sizes


def app_data_sms_id(sender: str, date_ms: int, subscription_id: int, data: bytes) -> str:
    """`InboxMessage.Data.hashCode()` as the app writes it (unsigned 32-bit hex), worked in unsigned arithmetic."""
    mask = 0xFFFFFFFF
    address = 0
    for unit in sender.encode("utf-16-be")[1::2]:  # ASCII: one UTF-16 unit per character
        address = (31 * address + unit) & mask
    result = (31 * address + ((date_ms ^ (date_ms >> 32)) & mask)) & mask
    result = (31 * result + subscription_id) & mask
    content = 1
    for byte in data:
        content = (31 * content + byte - (256 if byte > 127 else 0)) & mask
    return f"{(31 * result + content) & mask:x}"


async def listed(http: httpx.AsyncClient, base: str, auth: tuple[str, str], **params: Any) -> httpx.Response:
    response = await http.get(base + INBOX, auth=auth, params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return response


async def test_phones_upload_their_inbox_and_the_integrator_lists_it(tmp_path: Path, database_url: str) -> None:
    async with server_on(tmp_path, database_url) as (base, http), \
            httpx.AsyncClient(timeout=30) as client_a, httpx.AsyncClient(timeout=30) as client_b:
        mobile = base + "/api/mobile/v1"
        sizes = batch_sizes(client_a)
        first = Phone(PhoneConfig(server=mobile, radio=FAST, passphrase=PASSPHRASE, inbox_upload=True,
                                  sim_phone_numbers=("+15550000001",)), http=client_a)
        async with running(first):
            reg = first.registration
            assert reg is not None and reg.password is not None
            auth = (reg.login, reg.password)
            second = Phone(PhoneConfig(server=mobile, radio=FAST, passphrase=PASSPHRASE, inbox_upload=True,
                                       registration="basic", login=reg.login, password=reg.password,
                                       name="google/oriole"), http=client_b)
            bare = Phone(PhoneConfig(server=mobile, radio=FAST, inbox_upload=True, registration="basic",
                                     login=reg.login, password=reg.password, name="google/panther"))
            async with running(second, bare):
                text = first.receive_sms_now("+15551110001", "hello = <inbox>")
                await first.receive_data_sms("+15551110002", b"\x00\xff\x10data")
                data = first.inbox[-1]
                other = second.receive_sms_now("+15551110003", "from the second phone")
                bare.receive_sms_now("+15551110004", "never uploaded: no passphrase")
                assert bare.uploader is not None and not bare.uploader.queue
                assert first.uploader is not None and second.uploader is not None
                await until(lambda: first.uploader.uploaded == 2 and second.uploader.uploaded == 1)  # type: ignore[union-attr]
                shown = (await listed(http, base, auth)).json()
                assert {m["id"] for m in shown} == {text.message_id, data.message_id, other.message_id}
                # a repeated upload (the app retrying) is one row on the server
                first.uploader.enqueue(text, "+15550000001", "2026-12-06T00:00:00.000Z")
                await until(lambda: first.uploader.uploaded == 3)  # type: ignore[union-attr]
                again = await listed(http, base, auth)
                assert again.headers["X-Total-Count"] == "3"
                # a backlog above 500 goes in batches of 500
                sizes.clear()
                backlog = [first.receive_sms_now(f"+1555222{n:04d}", f"backlog {n}") for n in range(1203)]
                await until(lambda: first.uploader.uploaded == 3 + 1203, within=60)  # type: ignore[union-attr]
                assert sizes == [500, 500, 203]
                total = await listed(http, base, auth, type="SMS")
                assert total.headers["X-Total-Count"] == str(2 + 1203)
                by_device = await listed(http, base, auth, deviceId=first.device_id, limit=5)
                assert by_device.headers["X-Total-Count"] == str(2 + 1203)
    rows = {m["id"]: m for m in shown}
    sms = rows[text.message_id]
    assert sms["type"] == "SMS" and sms["isEncrypted"] is True and sms["simNumber"] == 1
    assert decrypt_text(PASSPHRASE, sms["contentPreview"]) == "hello = <inbox>"
    assert decrypt_text(PASSPHRASE, sms["sender"]) == "+15551110001"
    assert decrypt_text(PASSPHRASE, sms["recipient"]) == "+15550000001"
    received = rows[data.message_id]
    assert received["type"] == "DATA_SMS"
    assert base64.b64decode(decrypt_text(PASSPHRASE, received["contentPreview"])) == b"\x00\xff\x10data"
    # the data SMS's id is the app's hash of (sender, PDU time, subscription, bytes)
    assert data.message_id == app_data_sms_id("+15551110002", data.date_ms, 1, b"\x00\xff\x10data")
    assert rows[other.message_id]["type"] == "SMS"
    assert backlog[0].message_id != backlog[1].message_id


async def test_a_refused_item_is_dropped_and_the_rest_of_its_batch_kept(tmp_path: Path, sqlite_url: str) -> None:
    async with server_on(tmp_path, sqlite_url) as (base, http), httpx.AsyncClient(timeout=30) as client:
        sizes = batch_sizes(client)
        phone = Phone(PhoneConfig(server=base + "/api/mobile/v1", radio=FAST, passphrase=PASSPHRASE,
                                  inbox_upload=True), http=client)
        async with running(phone):
            reg = phone.registration
            assert reg is not None and reg.password is not None
            uploader = phone.uploader
            assert uploader is not None
            entries = [phone.receive_sms_now(f"+1555333{n:04d}", f"batch {n}") for n in range(7)]
            entries[4].message_id = "x" * 37  # longer than the server takes: a 400 for the whole batch
            await until(lambda: uploader.uploaded + uploader.dropped == 7)
            shown = await listed(http, base, (reg.login, reg.password))
    assert uploader.dropped == 1 and uploader.uploaded == 6
    assert sizes[0] == 7 and sizes.count(1) >= 1  # split in halves down to the one at fault
    assert {m["id"] for m in shown.json()} == {e.message_id for e in entries} - {"x" * 37}


def test_smsgate_sim_inbox_upload_flag(tmp_path: Path) -> None:
    """`smsgate-sim run --inbox-upload PASSPHRASE`: the fleet's inbound SMS end up in the server's inbox."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGATE_SIM_")}
    database = tmp_path / "inbox.db"
    with LiveServer(tmp_path, env={"DATABASE__URL": f"sqlite:///{database}"}) as server:
        result = subprocess.run(
            [sys.executable, "-m", "simulator.cli", "run", "--server", server.base_url, "--devices", "2",
             "--phones-per-account", "2", "--rate", "1", "--duration", "2", "--grace", "15",
             "--inbound-rate", "10", "--inbox-upload", PASSPHRASE, "--threshold", "inbound_lost==0", "--no-live"],
            env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        engine = sa.create_engine(f"sqlite:///{database}")
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT type, content, is_encrypted FROM inbox")).all()
        engine.dispose()
    assert len(rows) == 20 and {row.type for row in rows} == {"SMS"} and all(row.is_encrypted for row in rows)
    assert all(decrypt_text(PASSPHRASE, row.content).startswith(TEXT_PREFIX) for row in rows)
