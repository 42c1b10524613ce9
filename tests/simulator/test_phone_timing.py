"""The phone's time-driven behaviour under `trio.testing.MockClock` (pytest-trio's `autojump_clock`),
against an in-memory mobile API: SSE reconnect backoff, periodic pull, rate limit and send interval,
priority bypass, scheduleAt, TTL, report and webhook retries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import trio
from phone_fake_server import BASE, FakeServer, message

from simulator.phone import Phone, PhoneConfig, RadioConfig, Registration

INSTANT = RadioConfig(sent_latency=(0.0, 0.0), delivered_latency=(1.0, 1.0), seed=1)


@asynccontextmanager
async def running(server: FakeServer, **config: Any) -> AsyncIterator[Phone]:
    """A phone that registered on an earlier start: it PATCHes /device and fetches webhooks and settings."""
    config.setdefault("radio", INSTANT)
    phone = Phone(PhoneConfig(server=BASE, **config), http=server.client())
    phone.registration = Registration("device-1", "token-1", "LOGIN1", "password-1")
    async with trio.open_nursery() as nursery:
        await nursery.start(phone.run)
        yield phone
        nursery.cancel_scope.cancel()


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def processed_times(server: FakeServer) -> dict[str, float]:
    """When the first report of each message that had reached Processed came (Trio time).

    Reports are concurrent and read the message's current state when they run, so with an instant
    radio the report made for Processed may already say Sent; its `states` still hold Processed.
    """
    times: dict[str, float] = {}
    for seen in server.calls("PATCH", "/message"):
        item = seen.json()[0]
        if "Processed" in item["states"]:
            times.setdefault(item["id"], seen.at)
    return times


async def test_sse_reconnects_5s_x5_30s_x5_then_60s_and_pulls_on_every_connect(autojump_clock: Any) -> None:
    server = FakeServer(sse_failures=12)
    async with running(server):
        await trio.sleep(5 * 5 + 30 * 5 + 60 * 2 + 1)
        attempts = [s.at for s in server.calls("GET", "/events")]
        gaps = [round(b - a, 3) for a, b in zip(attempts, attempts[1:], strict=False)]
        assert gaps == [5.0] * 5 + [30.0] * 5 + [60.0] * 2
        assert server.calls("GET", "/events")[0].headers["user-agent"] == "okhttp/4.10.0"
        # the 13th attempt opened the stream, and the phone pulled right then
        assert any(abs(s.at - attempts[-1]) < 0.01 for s in server.calls("GET", "/message"))
        # a successful open resets the counter: the next drop reconnects after 5 s
        server.close_streams()
        dropped = trio.current_time()
        await trio.sleep(6)
        assert server.calls("GET", "/events")[-1].at == pytest.approx(dropped + 5, abs=0.01)


async def test_events_route_to_pull_cancel_and_refreshes(autojump_clock: Any) -> None:
    server = FakeServer()
    async with running(server) as phone:
        await trio.sleep(1)
        pulls = len(server.calls("GET", "/message"))
        server.event(None)  # no event name: MessageEnqueued
        await trio.sleep(1)
        assert len(server.calls("GET", "/message")) == pulls + 1
        server.hooks = [{"id": "h1", "deviceId": None, "url": "https://hooks.test/h1", "event": "sms:sent"}]
        server.event("WebhooksUpdated")
        server.settings = {"messages": {"limit_period": "PerHour", "limit_value": 5}}
        server.event("SettingsUpdated")
        await trio.sleep(1)
        assert [h.url for h in phone.webhooks.cloud] == ["https://hooks.test/h1"]
        assert phone.settings.limit_seconds == 3600 and phone.settings.limit_value == 5
        # a message scheduled an hour ahead stays local and Pending until MessageCancelled arrives
        server.pending = [message("m1", scheduleAt=iso(phone.clock.timestamp() + 3600))]
        server.event("MessageEnqueued")
        await trio.sleep(1)
        assert phone.store.get("m1") is not None and not server.patches()
        server.event("MessageCancelled", json.dumps({"messageId": "m1"}))
        await trio.sleep(1)
        [item] = server.patches()
        assert item["state"] == "Cancelled" and list(item["states"]) == ["Pending", "Cancelled"]
        assert item["recipients"] == [{"phoneNumber": "+15550001", "state": "Cancelled"}]


async def test_periodic_pull_follows_the_configured_interval(autojump_clock: Any) -> None:
    server = FakeServer(sse_failures=10**6)
    async with running(server, pull_interval=600):
        await trio.sleep(1801)
        starts = [s.at for s in server.calls("GET", "/message")]
        assert starts == pytest.approx([0, 600, 1200, 1800], abs=0.01)


async def test_rate_limit_sleeps_a_full_window_from_the_newest_send(autojump_clock: Any) -> None:
    server = FakeServer(pending=[message(f"m{i}") for i in range(5)])
    async with running(server, limit_period="PerMinute", limit_value=2, processing_order="fifo"):
        await trio.sleep(200)
    times = processed_times(server)
    assert list(times) == ["m0", "m1", "m2", "m3", "m4"]
    start = times["m0"]
    offsets = [round(t - start) for t in times.values()]
    # two at once, then period - (now - newest) + 1 s = 61 s, two more, then again
    assert offsets == [0, 0, 61, 61, 122]


async def test_priority_100_bypasses_limit_and_interval(autojump_clock: Any) -> None:
    server = FakeServer(pending=[message("normal"), message("urgent-1", priority=100)])
    async with running(server, limit_period="PerHour", limit_value=1, send_interval_min=10,
                       send_interval_max=10):
        await trio.sleep(100)
        server.pending = [message("urgent-2", priority=100)]
        server.event("MessageEnqueued")  # arrives while `normal` waits for the limit
        await trio.sleep(3600)
    times = processed_times(server)
    assert list(times) == ["urgent-1", "normal", "urgent-2"]
    # urgent-1 ignores the limit; `normal` waits a full window + 1 s after it; its send interval
    # (10 s) then delays urgent-2, which does not wait for the limit (previous priority was lower)
    assert times["normal"] - times["urgent-1"] == pytest.approx(3601, abs=0.01)
    assert times["urgent-2"] - times["normal"] == pytest.approx(10.001, abs=0.01)


async def test_send_interval_spaces_messages(autojump_clock: Any) -> None:
    server = FakeServer(pending=[message(f"m{i}") for i in range(3)])
    async with running(server, send_interval_min=7, send_interval_max=7, processing_order="fifo"):
        await trio.sleep(30)
    offsets = [t - processed_times(server)["m0"] for t in processed_times(server).values()]
    assert offsets == pytest.approx([0, 7.001, 14.002], abs=0.01)


async def test_schedule_at_and_ttl_expiry(autojump_clock: Any) -> None:
    server = FakeServer()
    async with running(server, limit_period="PerMinute", limit_value=1) as phone:
        await trio.sleep(1)
        now = phone.clock.timestamp()
        server.pending = [message("later", scheduleAt=iso(now + 120)), message("first"),
                          message("expires", validUntil=iso(now + 30), createdAt="2025-01-01T00:00:00Z")]
        server.event("MessageEnqueued")
        await trio.sleep(200)
    items = {i["id"]: i for i in server.patches()}
    failed = [i for i in server.patches() if i["id"] == "expires"]
    assert failed[-1]["state"] == "Failed"
    assert failed[-1]["recipients"] == [{"phoneNumber": "+15550001", "state": "Failed", "error": "TTL expired"}]
    assert list(failed[-1]["states"]) == ["Pending", "Failed"]
    times = processed_times(server)
    assert times["later"] - 1 >= 120  # not before its scheduleAt
    assert items["first"]["state"] == "Delivered"


async def test_failed_reports_retry_with_backoff(autojump_clock: Any) -> None:
    server = FakeServer(pending=[message("m1")], patch_failures=3, sse_failures=100)  # one pull only
    async with running(server, radio=RadioConfig(sent_latency=(200, 200))):
        await trio.sleep(80)
    attempts = [s.at for s in server.calls("PATCH", "/message")]
    # Processed fails at 0, retried at +10 (fails), +20 more (fails), +40 more (succeeds)
    assert [round(t - attempts[0]) for t in attempts[:4]] == [0, 10, 30, 70]
    assert server.patches()[-1]["state"] == "Processed"


async def test_webhook_retries_5s_doubling_then_gives_up(autojump_clock: Any) -> None:
    server = FakeServer(hooks=[{"id": "h1", "url": "https://hooks.test/sent", "event": "sms:sent"}],
                        hook_statuses=[500] * 10, pending=[message("m1")])
    server.settings = {"webhooks": {"retry_count": 3}}
    async with running(server):
        await trio.sleep(100)
    attempts = [s.at for s in server.calls("POST", "/sent")]
    assert [round(t - attempts[0]) for t in attempts] == [0, 5, 15, 35]  # 1 + retry_count, then dropped
    bodies = {s.body for s in server.calls("POST", "/sent")}
    assert len(bodies) == 1  # the same body each time, signed anew
    server2 = FakeServer(hooks=[{"id": "h1", "url": "https://hooks.test/sent", "event": "sms:sent"}],
                         hook_statuses=[503, 404], pending=[message("m1")])
    async with running(server2):
        await trio.sleep(100)
    assert [round(s.at - server2.calls("POST", "/sent")[0].at) for s in server2.calls("POST", "/sent")] == [0, 5, 15]


async def test_cleartext_webhooks_only_to_loopback(autojump_clock: Any) -> None:
    server = FakeServer(hooks=[{"id": "h1", "url": "http://hooks.test/plain", "event": "sms:received"}])
    errors: list[str] = []

    class Observer:
        def error(self, device_id: str, where: str, detail: str) -> None:
            errors.append(detail)

    phone = Phone(PhoneConfig(server=BASE, radio=INSTANT), Observer(), http=server.client())
    phone.registration = Registration("device-1", "token-1", "LOGIN1", "password-1")  # it fetches the hooks
    async with trio.open_nursery() as nursery:
        await nursery.start(phone.run)
        await phone.receive_sms("+15550002", "hi")
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert server.calls("POST", "/plain") == []
    assert any("CLEARTEXT communication to hooks.test not permitted" in e for e in errors)


async def test_webhooks_and_settings_are_refreshed_daily(autojump_clock: Any) -> None:
    server = FakeServer()
    async with running(server, push="fcm"):  # no SSE stream to keep
        await trio.sleep(2 * 86400 + 1)
        for path in ("/webhooks", "/settings"):
            starts = [s.at for s in server.calls("GET", path)]
            assert starts == pytest.approx([0, 86400, 2 * 86400], abs=1), path
