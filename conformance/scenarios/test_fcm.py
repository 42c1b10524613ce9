"""fcm: a phone with a push token gets its events from the target as FCM data messages (contract §4.1, §4.3,
§4.4), through the suite's FCM endpoint that the target's FCM client is pointed at."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
import trio

from conformance.harness import Suite, eventually, running
from conformance.harness.target import expect
from conformance.harness.times import now

pytestmark = pytest.mark.capability("fcm")


async def test_events_by_push(suite: Suite) -> None:
    hub = suite.fcm_hub()
    sim = suite.fcm_phone()
    async with running(sim):
        await trio.sleep(0.5)  # the pulls at start are over: what follows comes by push
        account = sim.account
        message_id = await suite.text(account, "woken by FCM")
        await suite.until_state(account, message_id, "Delivered", within=suite.push_wait, sim=sim)
        user = suite.user(account)
        await user.ok("POST", "/webhooks", 201, json={"url": "https://conformance.example.org/fcm",
                                                      "event": "sms:sent"})
        await user.ok("PATCH", "/settings", 200, json={"webhooks": {"retry_count": 5}})
        await eventually(lambda: {"WebhooksUpdated", "SettingsUpdated"} <= set(hub.fcm_events(sim.push_token)),
                         suite.push_wait, "WebhooksUpdated and SettingsUpdated by push")
        await eventually(lambda: sim.phone.settings.retry_count == 5, suite.push_wait, "the phone applying settings")
    assert "sse" not in sim.journal.transports, "a phone with a push token must not need SSE"
    assert "MessageEnqueued" in hub.fcm_events(sim.push_token)


async def test_cancel_by_push(suite: Suite) -> None:
    hub = suite.fcm_hub()
    sim = suite.fcm_phone()
    assert hub.fcm is not None
    async with running(sim):
        account = sim.account
        for attempt in range(1, 4):
            message_id = await suite.text(account, "cancel me", scheduleAt=now(hours=1))
            await eventually(functools.partial(sim.phone.store.get, message_id), suite.push_wait,
                             "the phone holding the scheduled message")
            response = await suite.user(account).request("DELETE", f"/messages/{message_id}")
            # A phone that pulls a message it already holds re-reports it (as the app does), and a reported
            # Pending is stored as Processed: past cancelling. On a busy machine a start-up pull can still be
            # running when the message arrives; that race is the phone's, not the server's, so try again.
            if response.status_code != 409 or attempt == 3:
                break
        expect(response, 200)
        await suite.until_state(account, message_id, "Cancelled", within=suite.push_wait, sim=sim)
    cancels = [m for m in hub.fcm.messages
               if m.get("token") == sim.push_token and m.get("data", {}).get("event") == "MessageCancelled"]
    assert cancels, "no MessageCancelled push"
    assert json.loads(cancels[-1]["data"]["data"]) == {"messageId": message_id}, cancels[-1]


async def pushed(suite: Suite) -> list[dict[str, Any]]:
    """The FCM messages the target sent so far (one more is provoked when there are none yet)."""
    hub = suite.fcm_hub()
    assert hub.fcm is not None
    if not hub.fcm.messages:
        sim = suite.fcm_phone()
        async with running(sim):
            await suite.text(sim.account, "shape")
            await eventually(lambda: "MessageEnqueued" in hub.fcm_events(sim.push_token), suite.push_wait,
                             "MessageEnqueued by push")
    return list(hub.fcm.messages)


async def test_data_only_messages(suite: Suite) -> None:
    for message in await pushed(suite):
        assert "notification" not in message, f"FCM messages must be data-only: {message}"
        data = message.get("data", {})
        assert set(data) == {"event", "data"} and all(isinstance(v, str) for v in data.values()), message
        json.loads(data["data"])


@pytest.mark.should
async def test_high_priority(suite: Suite) -> None:
    for message in await pushed(suite):
        assert message.get("android", {}).get("priority") == "high", message
