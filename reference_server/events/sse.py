"""Server-Sent Events for devices without a push token (contract §4.2).

Each open `GET /api/mobile/v1/events` is one connection with its own bounded buffer (8 events; an
event that does not fit is dropped for that connection). A device may hold several connections; all
of them get each event. Connections live in this process only: pub/sub brings events for them here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import trio
from quart import Response

from ..metrics import Metrics
from .notifier import DeviceEvent

log = logging.getLogger(__name__)

BUFFER_SIZE = 8
KEEPALIVE = b":keepalive\n\n"
HEADERS = {"Cache-Control": "no-cache", "Connection": "keep-alive", "X-Accel-Buffering": "no"}

Queued = tuple[DeviceEvent, float]  # the event and the Trio time it was handed to the connection


def frame(event: DeviceEvent) -> bytes:
    return f"event: {event.type}\ndata: {event.data_json()}\n\n".encode()


class SseHub:
    def __init__(self, metrics: Metrics, buffer_size: int = BUFFER_SIZE) -> None:
        self.metrics = metrics
        self.buffer_size = buffer_size
        self._connections: dict[str, set[trio.MemorySendChannel[Queued]]] = {}
        self._closed = False
        self._last: tuple[DeviceEvent | None, bytes] = (None, b"")  # a broadcast hands one event to every stream

    def _frame(self, event: DeviceEvent) -> bytes:
        """`frame(event)`, encoded once for all the streams an event object is handed to."""
        last, encoded = self._last
        if last is not event:
            encoded = frame(event)
            self._last = (event, encoded)
        return encoded

    def connections(self, device_id: str) -> int:
        return len(self._connections.get(device_id, ()))

    def device_ids(self) -> list[str]:
        """The devices with at least one open stream in this process."""
        return list(self._connections)

    def send(self, device_id: str, event: DeviceEvent) -> int:
        """Hand `event` to every connection of the device; returns how many took it."""
        delivered = 0
        for channel in list(self._connections.get(device_id, ())):
            try:
                channel.send_nowait((event, trio.current_time()))
                delivered += 1
            except trio.WouldBlock:
                self.metrics.sse_errors.labels("buffer_full").inc()
                log.info("SSE buffer of device %s full: %s dropped", device_id, event.type)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                pass  # the connection is going away
        return delivered

    @contextmanager
    def connect(self, device_id: str) -> Iterator[trio.MemoryReceiveChannel[Queued]]:
        send, receive = trio.open_memory_channel[Queued](self.buffer_size)
        if self._closed:
            send.close()
        channels = self._connections.setdefault(device_id, set())
        channels.add(send)
        self.metrics.sse_active.inc()
        try:
            yield receive
        finally:
            self.metrics.sse_active.dec()
            channels.discard(send)
            if not channels and self._connections.get(device_id) is channels:
                del self._connections[device_id]
            send.close()

    def close(self) -> None:
        """End every stream (they finish their response cleanly) and refuse new ones: for shutdown."""
        self._closed = True
        for channels in self._connections.values():
            for channel in channels:
                channel.close()

    async def stream(self, device_id: str, keep_alive: float) -> AsyncIterator[bytes]:
        """The response body: event frames, and a keep-alive comment after `keep_alive` idle seconds (0: none)."""
        with self.connect(device_id) as receive:
            while True:
                with trio.move_on_after(keep_alive if keep_alive > 0 else math.inf) as idle:
                    try:
                        event, queued_at = await receive.receive()
                    except trio.EndOfChannel:
                        return
                if idle.cancelled_caught:
                    self.metrics.sse_keepalives.inc()
                    yield KEEPALIVE
                    continue
                yield self._frame(event)
                self.metrics.sse_sent.labels(event.type).inc()
                self.metrics.sse_latency.observe(trio.current_time() - queued_at)

    def response(self, device_id: str, keep_alive: float) -> Response:
        response = Response(self.stream(device_id, keep_alive), content_type="text/event-stream", headers=HEADERS)
        response.timeout = None  # a stream lasts as long as the device keeps it open
        return response
