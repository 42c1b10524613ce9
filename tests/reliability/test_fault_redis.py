"""Redis, the pub/sub between two server processes, is killed and restarted (a Redis of the test's own).

A device holds its SSE stream on process A; the messages are sent through process B. What B publishes while
Redis is gone never reaches A, so once A's subscriber is back A tells its SSE devices to pull (and to refresh
webhooks and settings): nothing is silently lost. B logs each event it could not publish.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio
from live_server import LiveServer
from private_services import PrivateRedis, private_redis  # noqa: F401 - the fixture
from sse_client import SseReader, event_stream

pytestmark = [pytest.mark.slow, pytest.mark.mariadb, pytest.mark.redis]

DOWN_SECONDS = 2


@pytest.fixture
def two_processes(tmp_path: Path, mariadb_url: str,
                  private_redis: PrivateRedis) -> Iterator[tuple[LiveServer, LiveServer]]:  # noqa: F811
    env = {"DATABASE__URL": mariadb_url, "PUBSUB__URL": private_redis.url, "SSE__KEEP_ALIVE_PERIOD_SECONDS": "1"}
    with LiveServer(tmp_path, env=env) as first, LiveServer(tmp_path, env=env) as second:
        yield first, second


async def _send(http: httpx.AsyncClient, auth: tuple[str, str], ext_id: str) -> None:
    response = await http.post("/api/3rdparty/v1/messages", auth=auth,
                               json={"id": ext_id, "textMessage": {"text": ext_id}, "phoneNumbers": ["+79990001122"]})
    assert response.status_code == 202, response.text


async def _next_event(stream: SseReader, within: float) -> str:
    frame = await stream.next(within=within)
    return str(frame.event)


async def test_sse_devices_pull_after_redis_restarts(two_processes: tuple[LiveServer, LiveServer],
                                                     private_redis: PrivateRedis) -> None:  # noqa: F811
    holder, sender = two_processes
    async with httpx.AsyncClient(base_url=holder.base_url, timeout=10) as at_holder, \
            httpx.AsyncClient(base_url=sender.base_url, timeout=10) as at_sender:
        response = await at_holder.post("/api/mobile/v1/device", json={"name": "redis/phone"})
        assert response.status_code == 201, response.text
        device = response.json()
        auth = (device["login"], device["password"])
        async with event_stream(at_holder, device["token"]) as stream:
            await _send(at_sender, auth, "before")
            assert await _next_event(stream, within=5) == "MessageEnqueued"  # pub/sub works

            await trio.to_thread.run_sync(private_redis.kill)
            await trio.sleep(0.5)
            await _send(at_sender, auth, "during-1")
            await _send(at_sender, auth, "during-2")
            await trio.sleep(DOWN_SECONDS)
            await trio.to_thread.run_sync(private_redis.start)

            # A re-notifies once subscribed again; the device pulls and finds what it missed
            assert await _next_event(stream, within=15) == "MessageEnqueued"
            pulled = await at_holder.get("/api/mobile/v1/message",
                                         headers={"Authorization": f"Bearer {device['token']}"})
            assert {"before", "during-1", "during-2"} <= {m["id"] for m in pulled.json()}
            assert {await _next_event(stream, within=2) for _ in range(2)} == {"WebhooksUpdated", "SettingsUpdated"}

            # and events flow again, published by B's reconnected client
            await _send(at_sender, auth, "after")
            assert await _next_event(stream, within=5) == "MessageEnqueued"
    assert "not published" in sender.log()  # the loss was logged where it happened, not silent
