"""The SSE hub without HTTP: frames, fan-out to every connection, the bounded buffer, keep-alives, close."""

from __future__ import annotations

import trio
import trio.testing

from reference_server.events.notifier import DeviceEvent
from reference_server.events.sse import KEEPALIVE, SseHub, frame
from reference_server.metrics import Metrics


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_frames_carry_type_and_json_data() -> None:
    assert frame(DeviceEvent("MessageEnqueued")) == b"event: MessageEnqueued\ndata: null\n\n"
    assert frame(DeviceEvent("MessageCancelled", {"messageId": "m-1"})) == \
        b'event: MessageCancelled\ndata: {"messageId":"m-1"}\n\n'


async def test_every_connection_of_the_device_gets_the_event() -> None:
    hub = SseHub(Metrics())
    with hub.connect("d1") as first, hub.connect("d1") as second, hub.connect("d2") as other:
        assert hub.send("d1", DeviceEvent("SettingsUpdated")) == 2
        assert first.receive_nowait()[0].type == "SettingsUpdated"
        assert second.receive_nowait()[0].type == "SettingsUpdated"
        assert other.statistics().current_buffer_used == 0
    assert hub.connections("d1") == 0
    assert hub.send("d1", DeviceEvent("SettingsUpdated")) == 0  # nobody listening: dropped, no replay


async def test_a_full_buffer_drops_further_events_for_that_connection_only() -> None:
    metrics = Metrics()
    hub = SseHub(metrics)
    with hub.connect("d1") as slow, hub.connect("d1") as fast:
        for n in range(10):
            hub.send("d1", DeviceEvent("MessageCancelled", {"messageId": str(n)}))
            if n < 9:
                fast.receive_nowait()
        kept = [slow.receive_nowait()[0].data for _ in range(8)]
        assert kept == [{"messageId": str(n)} for n in range(8)]
        assert fast.receive_nowait()[0].data == {"messageId": "9"}
    assert value(metrics, "sms_sse_connection_errors_total", error_type="buffer_full") == 2


async def test_stream_writes_frames_and_keepalives_on_idle(autojump_clock: trio.testing.MockClock) -> None:
    metrics = Metrics()
    hub = SseHub(metrics)
    received: list[tuple[float, bytes]] = []

    async def read() -> None:
        async for chunk in hub.stream("d1", keep_alive=15):
            received.append((trio.current_time(), chunk))

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await trio.sleep(1)
        assert metrics.registry.get_sample_value("sms_sse_active_connections") == 1
        hub.send("d1", DeviceEvent("MessageEnqueued"))
        await trio.sleep(40)  # 15 s idle twice: two keep-alives
        hub.close()
    assert [chunk for _, chunk in received] == [frame(DeviceEvent("MessageEnqueued")), KEEPALIVE, KEEPALIVE]
    assert [round(at - start) for at, _ in received] == [1, 16, 31]
    assert value(metrics, "sms_sse_keepalives_sent_total") == 2
    assert value(metrics, "sms_sse_events_sent_total", event_type="MessageEnqueued") == 1
    assert value(metrics, "sms_sse_event_delivery_latency_seconds_count") == 1
    assert metrics.registry.get_sample_value("sms_sse_active_connections") == 0


async def test_keepalive_zero_disables_them(autojump_clock: trio.testing.MockClock) -> None:
    hub = SseHub(Metrics())
    chunks: list[bytes] = []

    async def read() -> None:
        async for chunk in hub.stream("d1", keep_alive=0):
            chunks.append(chunk)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await trio.sleep(3600)
        hub.close()
    assert chunks == []


async def test_close_ends_open_streams_and_refuses_new_ones() -> None:
    hub = SseHub(Metrics())
    ended = trio.Event()

    async def read() -> None:
        async for _ in hub.stream("d1", keep_alive=0):
            pass
        ended.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        hub.close()
        with trio.fail_after(1):
            await ended.wait()
    assert [chunk async for chunk in hub.stream("d2", keep_alive=0)] == []
