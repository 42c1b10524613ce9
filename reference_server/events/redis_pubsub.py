"""Redis pub/sub with the synchronous `redis` client, kept under Trio's control.

Publishing runs in a worker thread per call. Subscribing runs one long-lived thread that reads the
channel with a short poll timeout (so it notices a stop request) and hands each payload to Trio
through a bounded memory channel. A lost connection (Redis restarted, network cut) is retried with
a capped backoff for as long as the server runs; payloads published meanwhile are missed, so once
subscribed again the listener calls `on_resubscribe` (the server then tells its SSE devices to pull).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import trio

from .pubsub import Deliver, PublishError

log = logging.getLogger(__name__)

SUBSCRIBE_WAIT = 5.0  # how long startup waits for the first subscription before going on without it
POLL_SECONDS = 0.5
MAX_BACKOFF = 5.0


def redacted(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}:" if parts.username else ":"
    return urlunsplit(parts._replace(netloc=f"{user}***@{host}"))


def _client(url: str, name: str) -> redis.Redis:
    # TCP keep-alive is a TCP option: a unix:// connection refuses the keyword (TypeError on every call).
    tcp = {} if url.startswith("unix:") else {"socket_keepalive": True}
    return redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5, health_check_interval=15,
                                client_name=name, **tcp)  # type: ignore[arg-type]


class RedisPubSub:
    shared = True

    def __init__(self, url: str, channel: str, buffer_size: int = 128, *, client_name: str = "smsgate-events",
                 subscribe_wait: float = SUBSCRIBE_WAIT, on_resubscribe: Callable[[], None] | None = None) -> None:
        self.url = url
        self.channel = channel
        self.buffer_size = max(1, buffer_size)
        self.client_name = client_name  # shown by Redis' CLIENT LIST
        self.subscribe_wait = subscribe_wait
        self.on_resubscribe = on_resubscribe  # called in Trio when subscribed again after a loss
        self._publisher = _client(url, client_name)
        self._publish_limiter = trio.CapacityLimiter(4)

    async def publish(self, payload: bytes) -> None:
        try:
            await trio.to_thread.run_sync(self._publisher.publish, self.channel, payload,
                                          limiter=self._publish_limiter)
        except (redis.RedisError, OSError) as exc:
            raise PublishError(f"Redis publish failed: {exc}") from exc

    async def serve(self, deliver: Deliver, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        send, receive = trio.open_memory_channel[bytes](self.buffer_size)
        listener = _Listener(self, send, trio.lowlevel.current_trio_token())
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(partial(trio.to_thread.run_sync, listener.run, abandon_on_cancel=True,
                                           limiter=trio.CapacityLimiter(1)))
                with trio.move_on_after(self.subscribe_wait):
                    await listener.subscribed.wait()
                if not listener.subscribed.is_set():
                    log.warning("Redis pub/sub at %s not reachable yet: events from other processes are missed "
                                "until it is", redacted(self.url))
                task_status.started()
                async for payload in receive:
                    await deliver(payload)
        finally:
            listener.stop.set()

    async def aclose(self) -> None:
        await trio.to_thread.run_sync(self._publisher.close)


class _Listener:
    """The subscriber thread: (re)subscribes and forwards messages until `stop` is set."""

    def __init__(self, owner: RedisPubSub, send: trio.MemorySendChannel[bytes], token: trio.lowlevel.TrioToken):
        self.url = owner.url
        self.channel = owner.channel
        self.client_name = owner.client_name
        self.on_resubscribe = owner.on_resubscribe
        self.send = send
        self.token = token
        self.stop = threading.Event()
        self.subscribed = trio.Event()  # set from the thread through the Trio token

    def run(self) -> None:
        delay = 0.2
        lost = False  # whether payloads may have been missed since the last subscription
        while not self.stop.is_set():
            client: redis.Redis | None = None
            subscription: Any = None
            try:
                client = _client(self.url, self.client_name)
                subscription = client.pubsub(ignore_subscribe_messages=True)
                subscription.subscribe(self.channel)
                if lost:
                    log.info("Redis pub/sub: subscribed again to %s", self.channel)
                delay = 0.2
                trio.from_thread.run_sync(self.subscribed.set, trio_token=self.token)
                if lost and self.on_resubscribe is not None:
                    trio.from_thread.run_sync(self.on_resubscribe, trio_token=self.token)
                lost = False
                while not self.stop.is_set():
                    message = subscription.get_message(timeout=POLL_SECONDS)
                    if message is not None and message.get("type") == "message":
                        trio.from_thread.run_sync(self._offer, message["data"], trio_token=self.token)
            except trio.RunFinishedError:
                return
            except Exception as exc:  # any connection trouble: wait, then subscribe again
                lost = True
                log.warning("Redis pub/sub connection lost (%s: %s); retrying in %.1fs",
                            exc.__class__.__name__, exc, delay)
                self.stop.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF)
            finally:
                with suppress(Exception):
                    if subscription is not None:
                        subscription.close()
                    if client is not None:
                        client.close()

    def _offer(self, payload: bytes) -> None:
        try:
            self.send.send_nowait(payload)
        except trio.WouldBlock:
            log.warning("Redis pub/sub: subscriber is behind, one event dropped")
        except trio.ClosedResourceError:
            self.stop.set()
