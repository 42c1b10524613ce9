"""Pub/sub of event payloads between server processes (`pubsub.url`).

`memory://` fans out inside this process; `redis://...` (see `redis_pubsub.py`) lets several server
processes behind one load balancer share events, so that an SSE connection held by process A gets
the events caused by requests to process B. Delivery is at most once: no replay, no persistence.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import trio

from ..config import PubSubSettings

log = logging.getLogger(__name__)

TOPIC = "events"
PREFIX = "sms-gateway:"  # upstream's prefix for pub/sub topics and cache keys

Deliver = Callable[[bytes], Awaitable[None]]


class PubSub(Protocol):
    async def publish(self, payload: bytes) -> None:
        """Send to every subscriber of every process; raises PublishError when that is impossible."""

    async def serve(self, deliver: Deliver, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Call `deliver` with each payload published anywhere, until cancelled."""

    async def aclose(self) -> None: ...

    @property
    def shared(self) -> bool:
        """Whether other processes see what is published (then an SSE miss here is no failure)."""


class PublishError(Exception):
    pass


class MemoryPubSub:
    def __init__(self, buffer_size: int = 128) -> None:
        self.buffer_size = max(1, buffer_size)
        self._subscribers: set[trio.MemorySendChannel[bytes]] = set()

    async def publish(self, payload: bytes) -> None:
        for channel in list(self._subscribers):
            try:
                channel.send_nowait(payload)
            except trio.WouldBlock:
                log.warning("pub/sub subscriber is %d payloads behind: one dropped", self.buffer_size)
            except trio.ClosedResourceError:
                pass

    async def serve(self, deliver: Deliver, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        send, receive = trio.open_memory_channel[bytes](self.buffer_size)
        self._subscribers.add(send)
        try:
            task_status.started()
            async for payload in receive:
                await deliver(payload)
        finally:
            self._subscribers.discard(send)
            send.close()

    async def aclose(self) -> None:
        pass

    @property
    def shared(self) -> bool:
        return False


def open_pubsub(settings: PubSubSettings, on_resubscribe: Callable[[], None] | None = None) -> PubSub:
    """`memory://` or a Redis URL (`redis://`, `rediss://`, `unix://`); config validation checks the scheme.

    `on_resubscribe` runs when a shared pub/sub is subscribed again after losing its connection: payloads
    published meanwhile never arrived here.
    """
    if settings.url.split(":", 1)[0] == "memory":
        return MemoryPubSub(settings.buffer_size)
    from .redis_pubsub import RedisPubSub

    return RedisPubSub(settings.url, PREFIX + TOPIC, settings.buffer_size, on_resubscribe=on_resubscribe)
