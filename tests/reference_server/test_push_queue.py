"""The push queue under trio.testing.MockClock: debounce, coalescing, retries, the 15-minute blacklist."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest
import trio
import trio.testing

from reference_server.events.notifier import DeviceEvent
from reference_server.events.push_queue import PushQueue
from reference_server.events.senders import MemorySender, PushItem, Results
from reference_server.metrics import Metrics

DEBOUNCE = 5.0


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def running() -> AsyncIterator[tuple[PushQueue, MemorySender]]:
    """A queue flushing every 5 s from time 0, with a recording sender (tests using it take `autojump_clock`:
    pytest-trio picks the clock from the test's own arguments)."""
    sender = MemorySender()
    queue = PushQueue(sender, Metrics(), DEBOUNCE)
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        yield queue, sender
        nursery.cancel_scope.cancel()


async def at(moment: float) -> None:
    """Sleep until Trio time `moment` (the fixture's queue started at 0 and flushes at 5, 10, ...)."""
    await trio.sleep_until(moment)


def summary(items: Sequence[PushItem]) -> list[tuple[str, str, object]]:
    return [(i.token, i.event.type, i.event.data) for i in items]


async def test_nothing_is_sent_before_the_debounce_tick(
        running: tuple[PushQueue, MemorySender], autojump_clock: trio.testing.MockClock) -> None:
    queue, sender = running
    await at(0.5)
    await queue.enqueue("tok-a", DeviceEvent("MessageEnqueued"))
    await at(4.9)
    assert sender.batches == []
    await at(5.1)
    assert [summary(b) for b in sender.batches] == [[("tok-a", "MessageEnqueued", None)]]
    await at(30)
    assert len(sender.batches) == 1  # an empty queue sends nothing


async def test_same_token_and_type_coalesce_last_data_wins(
        running: tuple[PushQueue, MemorySender], autojump_clock: trio.testing.MockClock) -> None:
    queue, sender = running
    await at(1)
    for _ in range(5):
        await queue.enqueue("tok-a", DeviceEvent("MessageEnqueued"))
    await queue.enqueue("tok-a", DeviceEvent("MessageCancelled", {"messageId": "first"}))
    await queue.enqueue("tok-a", DeviceEvent("MessageCancelled", {"messageId": "second"}))
    await queue.enqueue("tok-b", DeviceEvent("MessageEnqueued"))
    await at(5.1)
    assert [summary(b) for b in sender.batches] == [[
        ("tok-a", "MessageEnqueued", None),
        ("tok-a", "MessageCancelled", {"messageId": "second"}),
        ("tok-b", "MessageEnqueued", None),
    ]]
    assert value(queue.metrics, "sms_push_enqueued_total", event="MessageEnqueued") == 6
    # The next window starts empty: a new event goes out at the next tick, not before.
    await at(7)
    await queue.enqueue("tok-a", DeviceEvent("MessageEnqueued"))
    await at(9.9)
    assert len(sender.batches) == 1
    await at(10.1)
    assert [summary(b) for b in sender.batches][1] == [("tok-a", "MessageEnqueued", None)]


async def test_failures_retry_then_blacklist_for_15_minutes(
        running: tuple[PushQueue, MemorySender], autojump_clock: trio.testing.MockClock) -> None:
    queue, sender = running
    metrics = queue.metrics
    sender.fail = {"bad"}
    await at(1)
    await queue.enqueue("bad", DeviceEvent("MessageEnqueued"))
    await queue.enqueue("good", DeviceEvent("MessageEnqueued"))
    await at(16)  # attempts at 5, 10 and 15
    assert [summary(b) for b in sender.batches] == [
        [("bad", "MessageEnqueued", None), ("good", "MessageEnqueued", None)],
        [("bad", "MessageEnqueued", None)],
        [("bad", "MessageEnqueued", None)],
    ]
    assert value(metrics, "sms_push_errors_total") == 3
    assert value(metrics, "sms_push_retries_total") == 2
    assert value(metrics, "sms_push_blacklist_total", operation="added") == 1
    assert queue.blacklisted("bad") and queue.pending == []

    # Blacklisted: further events for the token are skipped silently, others still go out.
    await queue.enqueue("bad", DeviceEvent("SettingsUpdated"))
    await queue.enqueue("good", DeviceEvent("SettingsUpdated"))
    await at(21)
    assert summary(sender.batches[-1]) == [("good", "SettingsUpdated", None)]
    assert value(metrics, "sms_push_blacklist_total", operation="skipped") == 1

    # 15 minutes after the third failure the token is accepted again.
    await at(15 + 15 * 60 - 1)
    assert queue.blacklisted("bad")
    await at(15 + 15 * 60 + 0.5)
    assert not queue.blacklisted("bad")
    sender.fail = set()
    await queue.enqueue("bad", DeviceEvent("WebhooksUpdated"))
    await at(15 + 15 * 60 + 5.5)
    assert summary(sender.batches[-1]) == [("bad", "WebhooksUpdated", None)]


async def test_a_newer_event_of_the_same_type_replaces_a_retry(autojump_clock: trio.testing.MockClock) -> None:
    """Re-queueing after a failure is set-if-absent: an event queued during the send wins."""
    queue: PushQueue

    class SlowFailing:
        async def send(self, items: Sequence[PushItem]) -> Results:
            await queue.enqueue("tok", DeviceEvent("MessageCancelled", {"messageId": "newer"}))
            return [RuntimeError("down")] * len(items)

        async def aclose(self) -> None:
            pass

    queue = PushQueue(SlowFailing(), Metrics(), DEBOUNCE)
    await queue.enqueue("tok", DeviceEvent("MessageCancelled", {"messageId": "older"}))
    await queue.flush()
    [item] = queue.pending
    assert (item.event.data, item.retries) == ({"messageId": "newer"}, 0)


async def test_retries_count_per_token_and_type_and_a_fresh_event_resets_them(
        autojump_clock: trio.testing.MockClock) -> None:
    sender = MemorySender()
    sender.fail_all = True
    queue = PushQueue(sender, Metrics(), DEBOUNCE)
    await queue.enqueue("tok", DeviceEvent("MessageEnqueued"))
    await queue.flush()
    await queue.flush()
    assert [i.retries for i in queue.pending] == [2]
    await queue.enqueue("tok", DeviceEvent("MessageEnqueued"))  # a new event: the count starts again
    assert [i.retries for i in queue.pending] == [0]
    for _ in range(3):
        await queue.flush()
    assert queue.blacklisted("tok")


async def test_a_crashing_sender_fails_the_batch_without_stopping_the_queue(
        autojump_clock: trio.testing.MockClock) -> None:
    class Broken:
        async def send(self, items: Sequence[PushItem]) -> Results:
            raise ValueError("bug")

        async def aclose(self) -> None:
            pass

    queue = PushQueue(Broken(), Metrics(), DEBOUNCE)
    await queue.enqueue("tok", DeviceEvent("MessageEnqueued"))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(queue.run)
        await trio.sleep(DEBOUNCE * 3 + 1)
        nursery.cancel_scope.cancel()
    assert queue.blacklisted("tok")
    assert value(queue.metrics, "sms_push_errors_total") == 3
