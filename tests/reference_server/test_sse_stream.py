"""SSE over real HTTP (Hypercorn in this Trio run): the app's own notifier routes every trigger to the
devices' event streams (contract §4.1, §4.2)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from conftest import make_settings
from quart_trio import QuartTrio
from sse_client import event_stream, eventually, served

from reference_server.app import Services, create_app

BASE = "/api/3rdparty/v1"
PHONE = "+79991234567"
HOOK_URL = "https://example.com/hook"


@dataclass
class Server:
    app: QuartTrio
    http: httpx.AsyncClient

    @property
    def services(self) -> Services:
        return self.app.extensions["smsgate"]  # type: ignore[no-any-return]

    async def register(self, auth: Any = None, **body: Any) -> dict[str, Any]:
        response = await self.http.post("/api/mobile/v1/device", json={"name": "phone", **body}, auth=auth)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def connected(self, device: dict[str, Any], count: int = 1) -> None:
        """Wait until the server holds `count` streams for the device (a stream registers once it starts)."""
        await eventually(lambda: self.services.events.sse.connections(device["id"]) >= count, within=2)


def creds(user: dict[str, Any]) -> tuple[str, str]:
    return user["login"], user["password"]


async def open_server(tmp_path: Path, **env: str) -> AsyncIterator[Server]:
    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'sse.db'}", **env))
    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=5) as http:
        yield Server(app, http)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async for handle in open_server(tmp_path):
        yield handle


async def test_triggers_reach_the_sse_devices(server: Server) -> None:
    user = await server.register()
    second = await server.register(auth=creds(user))
    async with event_stream(server.http, user["token"]) as first_stream, \
            event_stream(server.http, second["token"]) as second_stream:
        assert first_stream.response.headers["content-type"].startswith("text/event-stream")
        assert first_stream.response.headers["cache-control"] == "no-cache"
        await server.connected(user)
        await server.connected(second)

        started = trio.current_time()
        sent = await server.http.post(f"{BASE}/messages", auth=creds(user), json={
            "textMessage": {"text": "hi"}, "phoneNumbers": [PHONE], "deviceId": user["id"]})
        assert sent.status_code == 202, sent.text
        frame = await first_stream.next(within=1)
        assert (frame.event, frame.data) == ("MessageEnqueued", None)
        assert trio.current_time() - started < 1

        cancelled = await server.http.delete(f"{BASE}/messages/{sent.json()['id']}", auth=creds(user))
        assert cancelled.status_code == 200, cancelled.text
        frame = await first_stream.next()
        assert (frame.event, frame.data) == ("MessageCancelled", {"messageId": sent.json()["id"]})

        hook = await server.http.post(f"{BASE}/webhooks", auth=creds(user),
                                      json={"url": HOOK_URL, "event": "sms:received"})
        assert hook.status_code == 201, hook.text
        patched = await server.http.patch(f"{BASE}/settings", auth=creds(user),
                                          json={"ping": {"interval_seconds": 60}})
        assert patched.status_code == 200, patched.text
        for stream in (first_stream, second_stream):  # the second device never got the targeted events
            assert [(await stream.next()).event for _ in range(2)] == ["WebhooksUpdated", "SettingsUpdated"]

        scoped = await server.http.post(f"{BASE}/webhooks", auth=creds(user),
                                        json={"url": HOOK_URL, "event": "sms:sent", "deviceId": second["id"]})
        assert scoped.status_code == 201, scoped.text
        assert (await second_stream.next()).event == "WebhooksUpdated"
        refresh = await server.http.post(f"{BASE}/inbox/refresh", auth=creds(user), json={
            "deviceId": user["id"], "since": "2024-01-01T00:00:00Z", "until": "2024-01-02T00:00:00Z"})
        assert refresh.status_code == 202, refresh.text
        frame = await first_stream.next()
        assert frame.event == "MessagesExportRequested"
        assert frame.data["since"].startswith("2024-01-01T00:00:00") and frame.data["triggerWebhooks"] == "false"
        await first_stream.nothing_for(0.2)
        await second_stream.nothing_for(0.2)

    metrics = (await server.http.get("/metrics")).text
    assert 'sms_events_sent_total{delivery_type="sse",event="MessageEnqueued"} 1.0' in metrics
    assert 'sms_sse_events_sent_total{event_type="SettingsUpdated"} 2.0' in metrics
    assert "sms_sse_active_connections 0.0" in metrics


async def test_a_device_with_a_push_token_is_pushed_never_streamed(server: Server) -> None:
    pushed = await server.register(pushToken="fcm-token-1")
    streamed = await server.register(auth=creds(pushed))
    async with event_stream(server.http, pushed["token"]) as pushed_stream, \
            event_stream(server.http, streamed["token"]) as sse_stream:
        await server.connected(pushed)
        await server.connected(streamed)
        patched = await server.http.patch(f"{BASE}/settings", auth=creds(pushed),
                                          json={"ping": {"interval_seconds": 5}})
        assert patched.status_code == 200
        assert (await sse_stream.next()).event == "SettingsUpdated"
        await pushed_stream.nothing_for(0.3)
    queued = [(item.token, item.event.type) for item in server.services.events.push_queue.pending]
    assert queued == [("fcm-token-1", "SettingsUpdated")]


async def test_every_connection_of_a_device_gets_each_event(server: Server) -> None:
    user = await server.register()
    async with event_stream(server.http, user["token"]) as one, event_stream(server.http, user["token"]) as two:
        await server.connected(user, count=2)
        await server.http.delete(f"{BASE}/webhooks/none", auth=creds(user))
        assert (await one.next()).event == "WebhooksUpdated"
        assert (await two.next()).event == "WebhooksUpdated"


async def test_keepalive_comments_while_idle(tmp_path: Path) -> None:
    async for server in open_server(tmp_path, SSE__KEEP_ALIVE_PERIOD_SECONDS="1"):
        user = await server.register()
        async with event_stream(server.http, user["token"]) as stream:
            frame = await stream.next(within=2, comments=True)
            assert (frame.comment, frame.event) == ("keepalive", None)


@pytest.mark.parametrize("header", [None, "Bearer not-a-device-token", "Basic dXNlcjpwYXNz"])
async def test_events_need_a_device_token(server: Server, header: str | None) -> None:
    response = await server.http.get("/api/mobile/v1/events", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")


async def test_shutdown_ends_open_streams_cleanly(tmp_path: Path) -> None:
    """The CLI's shutdown ends SSE responses properly (a complete chunked body), without the graceful timeout."""
    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'sse.db'}"))
    stop = trio.Event()
    server_done = None

    async def run_server(task_status: trio.TaskStatus[str]) -> None:
        nonlocal server_done
        async with served(app) as base_url:
            task_status.started(base_url)
            await stop.wait()
        server_done = trio.current_time()

    async with trio.open_nursery() as nursery:
        base_url = await nursery.start(run_server)
        async with httpx.AsyncClient(base_url=base_url) as http:
            server = Server(app, http)
            device = await server.register()
            async with event_stream(http, device["token"]) as stream:
                await server.connected(device)
                stopped_at = trio.current_time()
                stop.set()
                with pytest.raises(EOFError):  # the body ends: no ReadError, no RemoteProtocolError
                    await stream.next(within=10)
                ended_at = trio.current_time()
    assert ended_at - stopped_at < 2
    assert server_done is not None and server_done - stopped_at < 2  # not the 5 s graceful timeout
