"""Routing in-process: triggers become push-queue items for devices with a push token, the upstream relay
endpoint feeds the same queue, and routing problems are counted, never raised to the API caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from conftest import make_settings
from sse_client import eventually

from reference_server.app import Services, create_app
from reference_server.events.notifier import DeviceEvent
from reference_server.events.router import EventRouter, decode, encode

BASE = "/api/3rdparty/v1"


class Client:
    def __init__(self, http: httpx.AsyncClient, services: Services) -> None:
        self.http = http
        self.services = services

    async def register(self, auth: Any = None, **body: Any) -> dict[str, Any]:
        response = await self.http.post("/api/mobile/v1/device", json={"name": "phone", **body}, auth=auth)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def settled(self) -> None:
        """Wait until the routing task has handled every notification and pub/sub delivered its part."""
        await eventually(lambda: not self.services.events.router.busy, poll=0.005)
        await trio.testing.wait_all_tasks_blocked()

    async def routed(self) -> list[tuple[str, str, Any]]:
        """The push queue's content once routing has caught up."""
        await self.settled()
        return sorted((i.token, i.event.type, i.event.data) for i in self.services.events.push_queue.pending)


async def open_client(tmp_path: Path, **env: str) -> AsyncIterator[Client]:
    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'routing.db'}", **env))
    async with app.test_app():
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Client(http, app.extensions["smsgate"])


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async for handle in open_client(tmp_path):
        yield handle


def creds(user: dict[str, Any]) -> tuple[str, str]:
    return user["login"], user["password"]


async def test_triggers_queue_pushes_for_devices_with_a_push_token(client: Client) -> None:
    user = await client.register(pushToken="tok-1")
    other = await client.register(auth=creds(user), pushToken="tok-2")
    await client.register(auth=creds(user))  # SSE-only: never in the push queue
    sent = await client.http.post(f"{BASE}/messages", auth=creds(user), json={
        "textMessage": {"text": "x"}, "phoneNumbers": ["+79991234567"], "deviceId": other["id"]})
    assert sent.status_code == 202
    await client.http.delete(f"{BASE}/messages/{sent.json()['id']}", auth=creds(user))
    await client.http.patch(f"{BASE}/settings", auth=creds(user), json={"ping": {"interval_seconds": 60}})
    assert await client.routed() == [
        ("tok-1", "SettingsUpdated", None),
        ("tok-2", "MessageCancelled", {"messageId": sent.json()["id"]}),
        ("tok-2", "MessageEnqueued", None),
        ("tok-2", "SettingsUpdated", None),
    ]
    metrics = client.services.metrics.registry
    assert metrics.get_sample_value("sms_events_enqueued_total", {"event": "SettingsUpdated"}) == 1
    assert metrics.get_sample_value("sms_events_sent_total", {"event": "SettingsUpdated", "delivery_type": "push"}) == 2
    # the SSE-only device had no open stream: a miss, counted (in-process pub/sub sees every connection)
    assert metrics.get_sample_value("sms_events_failed_total", {
        "event": "SettingsUpdated", "delivery_type": "sse", "reason": "no_connection"}) == 1


async def test_the_relay_endpoint_feeds_the_push_queue_and_limits_each_ip(client: Client) -> None:
    items = [{"token": "relayed-1", "event": "MessageEnqueued"},
             {"token": "relayed-2", "event": "MessageCancelled", "data": {"messageId": "m"}}]
    response = await client.http.post("/api/upstream/v1/push", json=items)
    assert response.status_code == 202, response.text
    assert await client.routed() == [("relayed-1", "MessageEnqueued", None),
                                     ("relayed-2", "MessageCancelled", {"messageId": "m"})]
    assert (await client.http.post("/api/upstream/v1/push", json=[])).status_code == 400
    bad = [{"token": "t", "event": "NoSuchEvent"}]
    assert (await client.http.post("/api/upstream/v1/push", json=bad)).status_code == 400
    answers = [await client.http.post("/api/upstream/v1/push", json=items[:1]) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [202, 202, 429]  # the 6th request within the minute
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 60


async def test_private_mode_has_no_relay_endpoint(tmp_path: Path) -> None:
    async for client in open_client(tmp_path, GATEWAY__MODE="private", GATEWAY__PRIVATE_TOKEN="secret-token"):
        response = await client.http.post("/api/upstream/v1/push", json=[{"token": "t", "event": "MessageEnqueued"}])
        assert response.status_code == 404


async def test_routing_failures_are_counted_not_raised(client: Client) -> None:
    router = client.services.events.router
    assert isinstance(router, EventRouter)

    class BrokenDevices:
        async def routes_of_user(self, user_id: str) -> list[Any]:
            raise RuntimeError("database gone")

    router.devices = BrokenDevices()  # type: ignore[assignment]
    await router.notify("user", None, DeviceEvent("SettingsUpdated"))
    await client.settled()
    assert client.services.metrics.registry.get_sample_value(
        "sms_events_failed_total", {"event": "SettingsUpdated", "delivery_type": "", "reason": "storage"}) == 1


async def test_unknown_device_or_user_routes_nowhere(client: Client) -> None:
    user = await client.register(pushToken="tok")
    router = client.services.events.router
    await router.notify(user["id"], "no-such-device", DeviceEvent("MessageEnqueued"))
    await router.notify("no-such-user", None, DeviceEvent("MessageEnqueued"))
    assert await client.routed() == []


def test_pubsub_payload_round_trip() -> None:
    event = DeviceEvent("MessagesExportRequested", {"since": "a", "until": "b"})
    assert decode(encode(["d1", "d2"], event)) == (["d1", "d2"], event)
    assert decode(encode(["d"], DeviceEvent("MessageEnqueued"))) == (["d"], DeviceEvent("MessageEnqueued"))
