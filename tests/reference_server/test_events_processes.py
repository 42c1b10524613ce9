"""Notification across server processes over loopback: the private-mode relay into our public server, and
SSE events shared between two processes through Redis (with MariaDB as the shared database)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio
from fcm_stub import FcmStub
from live_server import LiveServer
from sse_client import event_stream, eventually

pytestmark = pytest.mark.slow

PRIVATE_TOKEN = "relay-test-private-token"


def metric(server: LiveServer, sample: str) -> float:
    """One sample of the server's /metrics, e.g. `sms_sse_active_connections`; 0 when absent."""
    text = httpx.get(f"{server.base_url}/metrics").text
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(match[1]) if match else 0.0


@pytest.fixture
def relay_pair(tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer, FcmStub]]:
    """A public server delivering through firebase-admin to the FCM stub, and a private one relaying to it."""
    with FcmStub() as fcm:
        public_dir, private_dir = tmp_path / "public", tmp_path / "private"
        public_dir.mkdir()
        private_dir.mkdir()
        public = LiveServer(public_dir, env={
            "DATABASE__URL": f"sqlite:///{public_dir / 'db.sqlite'}",
            "FCM__CREDENTIALS_JSON": json.dumps(fcm.service_account()), "FCM__ENDPOINT": fcm.base_url})
        with public:
            private = LiveServer(private_dir, env={
                "DATABASE__URL": f"sqlite:///{private_dir / 'db.sqlite'}", "GATEWAY__MODE": "private",
                "GATEWAY__PRIVATE_TOKEN": PRIVATE_TOKEN,
                "GATEWAY__UPSTREAM_URL": f"{public.base_url}/api/upstream/v1"})
            with private:
                yield private, public, fcm


def test_private_server_relays_pushes_through_our_public_server(
        relay_pair: tuple[LiveServer, LiveServer, FcmStub]) -> None:
    private, public, fcm = relay_pair
    with httpx.Client(base_url=private.base_url, timeout=10) as http:
        device = http.post("/api/mobile/v1/device", json={"name": "phone", "pushToken": "relayed-fcm-token"},
                           headers={"Authorization": f"Bearer {PRIVATE_TOKEN}"}).json()
        sent = http.post("/api/3rdparty/v1/messages", auth=(device["login"], device["password"]),
                         json={"textMessage": {"text": "hi"}, "phoneNumbers": ["+79991234567"]})
        assert sent.status_code == 202, sent.text

    # private queue (5 s) -> POST public /api/upstream/v1/push -> public queue (5 s) -> firebase-admin -> stub
    [message] = fcm.wait_for_messages(1, timeout=20)
    assert message == {"token": "relayed-fcm-token", "data": {"event": "MessageEnqueued", "data": "null"},
                       "android": {"priority": "high"}}
    assert metric(public, 'sms_push_enqueued_total{event="MessageEnqueued"}') == 1
    assert metric(private, 'sms_push_errors_total') == 0

    # The relay endpoint allows 5 requests per minute per client IP; everything here comes from 127.0.0.1.
    relayed = metric(public, 'http_requests_total{method="POST",path="/api/upstream/v1/push",status_code="202"}')
    assert relayed == 1
    item = [{"token": "direct", "event": "SettingsUpdated"}]
    statuses = [httpx.post(f"{public.base_url}/api/upstream/v1/push", json=item).status_code for _ in range(5)]
    assert statuses == [202, 202, 202, 202, 429]


@pytest.fixture
def shared_pair(tmp_path: Path, mariadb_url: str, redis_server: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    env = {"DATABASE__URL": mariadb_url, "PUBSUB__URL": redis_server}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with LiveServer(tmp_path / "a", env=env) as first:  # migrates first, then the second starts
        with LiveServer(tmp_path / "b", env=env) as second:
            yield first, second


@pytest.mark.mariadb
@pytest.mark.redis
async def test_sse_device_on_one_process_gets_events_caused_on_another(
        shared_pair: tuple[LiveServer, LiveServer]) -> None:
    process_a, process_b = shared_pair
    async with httpx.AsyncClient(base_url=process_a.base_url, timeout=10) as on_a, \
            httpx.AsyncClient(base_url=process_b.base_url, timeout=10) as on_b:
        device = (await on_a.post("/api/mobile/v1/device", json={"name": "phone"})).json()
        user = (device["login"], device["password"])
        async with event_stream(on_a, device["token"]) as stream:
            await eventually(lambda: metric(process_a, "sms_sse_active_connections") == 1, poll=0.1)
            started = trio.current_time()
            sent = await on_b.post("/api/3rdparty/v1/messages", auth=user, json={
                "textMessage": {"text": "hi"}, "phoneNumbers": ["+79991234567"]})
            assert sent.status_code == 202, sent.text
            frame = await stream.next(within=2)
            assert (frame.event, frame.data) == ("MessageEnqueued", None)
            assert trio.current_time() - started < 2

            cancelled = await on_b.delete(f"/api/3rdparty/v1/messages/{sent.json()['id']}", auth=user)
            assert cancelled.status_code == 200
            frame = await stream.next(within=2)
            assert (frame.event, frame.data) == ("MessageCancelled", {"messageId": sent.json()["id"]})
    assert metric(process_a, 'sms_events_sent_total{delivery_type="sse",event="MessageEnqueued"}') == 1
    assert metric(process_b, 'sms_events_enqueued_total{event="MessageEnqueued"}') == 1
