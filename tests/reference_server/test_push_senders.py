"""Push senders: firebase-admin against a local FCM-v1 stub (via `fcm.endpoint`), and the upstream relay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import make_settings
from fcm_stub import PROJECT, FcmStub

from reference_server.events.fcm import FcmSender
from reference_server.events.notifier import DeviceEvent
from reference_server.events.push_queue import PushQueue
from reference_server.events.runtime import make_sender
from reference_server.events.senders import DisabledSender, PushFailed, PushItem, UpstreamSender
from reference_server.metrics import Metrics


@pytest.fixture
def fcm() -> Iterator[FcmStub]:
    with FcmStub() as stub:
        yield stub


def fcm_settings(tmp_path: Path, stub: FcmStub, **env: str) -> dict[str, str]:
    return {"FCM__CREDENTIALS_JSON": json.dumps(stub.service_account()), "FCM__ENDPOINT": stub.base_url, **env}


async def test_firebase_admin_delivers_data_only_messages_to_the_configured_endpoint(
        tmp_path: Path, fcm: FcmStub) -> None:
    settings = make_settings(tmp_path, "sqlite://", **fcm_settings(tmp_path, fcm))
    sender = make_sender(settings, "test")
    assert isinstance(sender, FcmSender)
    metrics = Metrics()
    queue = PushQueue(sender, metrics, 5)
    fcm.unregistered = {"gone-token"}
    await queue.enqueue("live-token", DeviceEvent("MessageCancelled", {"messageId": "m-1"}))
    await queue.enqueue("live-token", DeviceEvent("MessageEnqueued"))
    await queue.enqueue("gone-token", DeviceEvent("MessageEnqueued"))
    await queue.flush()
    await sender.aclose()

    assert sorted(fcm.messages, key=lambda m: m["data"]["event"]) == [
        {"token": "live-token", "data": {"event": "MessageCancelled", "data": '{"messageId":"m-1"}'},
         "android": {"priority": "high"}},
        {"token": "live-token", "data": {"event": "MessageEnqueued", "data": "null"}, "android": {"priority": "high"}},
    ]  # data-only: no `notification`
    assert set(fcm.paths) == {f"/v1/projects/{PROJECT}/messages:send"}
    assert set(fcm.authorizations) == {"Bearer stub-access-token"} and fcm.token_requests >= 1
    # UNREGISTERED is an answer like any failure: counted, retried, eventually blacklisted; nothing crashed.
    assert [m["token"] for m in fcm.refused] == ["gone-token"]
    assert metrics.registry.get_sample_value("sms_push_errors_total") == 1
    assert [(i.token, i.retries) for i in queue.pending] == [("gone-token", 1)]


async def test_unregistered_errors_are_reported_per_message(fcm: FcmStub) -> None:
    from firebase_admin import messaging

    fcm.unregistered = {"b"}
    sender = FcmSender(json.dumps(fcm.service_account()), endpoint=fcm.base_url, timeout=5, batch_size=2)
    items = [PushItem(token, DeviceEvent("SettingsUpdated")) for token in ("a", "b", "c")]
    results = await sender.send(items)  # two chunks: [a, b] and [c]
    await sender.aclose()
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], messaging.UnregisteredError)


async def test_unusable_credentials_fail_the_pushes_without_crashing(fcm: FcmStub) -> None:
    sender = FcmSender("{}", endpoint=fcm.base_url, timeout=1)  # `{}` passes startup, as upstream
    results = await sender.send([PushItem("a", DeviceEvent("MessageEnqueued"))])
    assert len(results) == 1 and isinstance(results[0], PushFailed)
    assert fcm.messages == []


def test_sender_choice(tmp_path: Path) -> None:
    assert isinstance(make_sender(make_settings(tmp_path, "sqlite://"), "ua"), DisabledSender)
    private = make_settings(tmp_path, "sqlite://", GATEWAY__MODE="private", GATEWAY__UPSTREAM_URL="http://relay/v1/")
    relay = make_sender(private, "ua")
    assert isinstance(relay, UpstreamSender) and relay.url == "http://relay/v1/push"


async def test_upstream_relay_posts_the_batch_and_fails_it_on_error_statuses() -> None:
    requests: list[httpx.Request] = []
    status = 202

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(status, json={})

    sender = UpstreamSender("https://relay.example/upstream/v1", 1, "sms-gate/test (server; python)",
                            transport=httpx.MockTransport(answer))
    items = [PushItem("t1", DeviceEvent("MessageEnqueued")),
             PushItem("t2", DeviceEvent("MessageCancelled", {"messageId": "x"}))]
    assert await sender.send(items) == [None, None]
    request = requests[0]
    assert (request.method, str(request.url)) == ("POST", "https://relay.example/upstream/v1/push")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "sms-gate/test (server; python)"
    assert json.loads(request.content) == [{"token": "t1", "event": "MessageEnqueued", "data": None},
                                           {"token": "t2", "event": "MessageCancelled", "data": {"messageId": "x"}}]
    for status in (400, 429, 500):
        results = await sender.send(items)
        assert all(isinstance(r, PushFailed) and str(status) in str(r) for r in results)


async def test_upstream_relay_unreachable_fails_the_batch() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    sender = UpstreamSender("http://127.0.0.1:9/v1", 1, "ua", transport=httpx.MockTransport(refuse))
    results = await sender.send([PushItem("t", DeviceEvent("MessageEnqueued"))])
    assert isinstance(results[0], PushFailed)
