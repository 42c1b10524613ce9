"""sse: GET /mobile/v1/events for devices without a push token (contract §4.1, §4.2)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from conformance.harness import Account, SseStream, Suite, blocking, body, describe, eventually, running
from conformance.harness.accounts import basic_header, how, new_user_authorization, register
from conformance.harness.times import now

pytestmark = pytest.mark.capability("sse")


@asynccontextmanager
async def stream(suite: Suite, account: Account, root: bool = False) -> AsyncIterator[SseStream]:
    """An open event stream of `account`'s device. Its response headers must come at once (before any event):
    when they do not, the check is blocked by `test_stream_opens` (which judges that), or fails if it is it."""
    reader = SseStream(suite.http, suite.target.mobile + "/events", account.token)
    async with trio.open_nursery() as nursery:
        with trio.move_on_after(suite.sse_wait):
            await nursery.start(reader.run)
        if not reader.status:
            why = (f"GET {reader.url} with a device token: no response headers within {suite.sse_wait:.0f} s "
                   "(a stream must answer 200 with its headers at once, before the first event)")
            if root:
                raise AssertionError(why)
            blocking.block(blocking.SSE_OPENS, why)
        assert reader.status == 200, f"GET /events answered {reader.status}: {reader.raw[:300]!r}"
        await trio.sleep(0.3)  # subscribed before anything happens
        yield reader
        nursery.cancel_scope.cancel()


async def wait_for(suite: Suite, reader: SseStream, event: str, count: int = 1) -> list[str]:
    def found() -> list[str]:
        data = [e.data for e in reader.events if e.event == event]
        return data if len(data) >= count else []

    return list(await eventually(found, suite.sse_wait, f"SSE event {event} (stream so far: {reader.raw[-400:]!r})"))


async def test_frames_for_each_event(suite: Suite) -> None:
    account = await suite.account()
    user = suite.user(account)
    async with stream(suite, account) as reader:
        assert reader.headers.get("content-type", "").startswith("text/event-stream"), reader.headers
        message_id = await suite.text(account, "over SSE")
        enqueued = await wait_for(suite, reader, "MessageEnqueued")
        assert json.loads(enqueued[0]) in (None, {}), f"MessageEnqueued data: {enqueued[0]!r}"
        await user.ok("DELETE", f"/messages/{message_id}", 200)
        cancelled = await wait_for(suite, reader, "MessageCancelled")
        assert json.loads(cancelled[0]) == {"messageId": message_id}, f"MessageCancelled data: {cancelled[0]!r}"
        await user.ok("POST", "/webhooks", 201, json={"url": "https://conformance.example.org/sse",
                                                      "event": "sms:received"})
        await wait_for(suite, reader, "WebhooksUpdated")
        await user.ok("PATCH", "/settings", 200, json={"ping": {"interval_seconds": 900}})
        await wait_for(suite, reader, "SettingsUpdated")
        since, until = now(hours=-1), now()
        response = await user.post("/inbox/refresh", json={"since": since, "until": until,
                                                          "deviceId": account.device_id})
        assert response.status_code == 202, describe(response)
        export = json.loads((await wait_for(suite, reader, "MessagesExportRequested"))[0])
        assert isinstance(export, dict) and export.get("since") and export.get("until"), f"export data: {export}"
        assert all(isinstance(v, str) for v in export.values()), f"export values must be strings: {export}"
    unknown = {e.event for e in reader.events} - {"MessageEnqueued", "MessageCancelled", "WebhooksUpdated",
                                                  "SettingsUpdated", "MessagesExportRequested"}
    assert not unknown, f"unknown event types: {sorted(unknown)}"


async def test_stream_opens(suite: Suite) -> None:
    """A device's stream answers 200 `text/event-stream` at once; needs only a registered device's token (so a
    target whose passwords fail still shows this)."""
    settings = suite.settings
    authorization = basic_header(settings.login, settings.password) if settings.login and settings.password \
        else new_user_authorization(settings, suite.target)
    response = await register(suite.http, suite.target, authorization, {"name": "conformance/sse"})
    if response.status_code != 201:
        blocking.block(blocking.BASIC_JOIN if settings.login else blocking.NEW_USER,
                       f"registration failed ({how(authorization, suite.target)}): {describe(response)}")
    answer = body(response)
    account = Account(str(answer["login"]), "", str(answer["id"]), str(answer["token"]), True)
    async with stream(suite, account, root=True) as reader:
        content_type = reader.headers.get("content-type", "")
        assert content_type.startswith("text/event-stream"), f"GET /events Content-Type: {content_type!r}"


@pytest.mark.should
async def test_no_cache(suite: Suite) -> None:
    account = await suite.account()
    async with stream(suite, account) as reader:
        assert reader.headers.get("cache-control") == "no-cache", reader.headers


async def test_needs_a_device_token(suite: Suite) -> None:
    response = await suite.http.get(suite.target.mobile + "/events", headers={"Authorization": "Bearer nobody"})
    assert response.status_code == 401, describe(response)


async def test_only_the_target_device_hears(suite: Suite) -> None:
    account = await suite.account()
    other = await suite.account(join=account)
    async with stream(suite, account) as mine, stream(suite, other) as theirs:
        await suite.text(other, "for the other device")
        await wait_for(suite, theirs, "MessageEnqueued")
        await trio.sleep(1)
        assert not [e for e in mine.events if e.event == "MessageEnqueued"], f"leaked: {mine.raw!r}"


async def test_every_open_stream_hears(suite: Suite) -> None:
    account = await suite.account()
    async with stream(suite, account) as first, stream(suite, account) as second:
        await suite.text(account, "twice")
        await wait_for(suite, first, "MessageEnqueued")
        await wait_for(suite, second, "MessageEnqueued")


async def test_devices_with_a_push_token_are_not_streamed(suite: Suite) -> None:
    account = await suite.account(payload={"name": "conformance/pushed", "pushToken": "conformance-push-token"})
    async with stream(suite, account) as reader:
        await suite.text(account, "goes by push")
        await trio.sleep(2)
        assert not [e for e in reader.events if e.event == "MessageEnqueued"], \
            f"a device with a push token got its event over SSE too: {reader.raw!r}"


async def test_phone_delivers_over_sse(suite: Suite) -> None:
    sim = suite.phone()  # an SSE phone that pulls only at start and on events
    async with running(sim):
        await eventually(lambda: "sse" in sim.journal.transports, suite.sse_wait, "the phone's SSE connection")
        await trio.sleep(0.5)
        account = sim.account
        message_id = await suite.text(account, "woken by SSE")
        await suite.until_state(account, message_id, "Delivered", sim=sim)
