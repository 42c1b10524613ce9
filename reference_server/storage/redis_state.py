"""The shared-state port on Redis (`cache.url`: redis://, rediss://, unix://).

The synchronous `redis` client runs in worker threads under a limiter (as the pub/sub code does): one round
trip per operation, Lua for the steps that must be atomic (they work on any Redis since 2.6, and
`register_script` loads them again after a Redis restart). A Redis that cannot be reached raises
`SharedStateUnavailable` at once; the client reconnects by itself on the next call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import redis
import trio

from ..domain.shared_state import SharedStateUnavailable

T = TypeVar("T")
PREFIX = "smsgate:"
TIMEOUT = 2.0  # seconds for a connect or an answer: a stopped or frozen Redis fails requests quickly

_TAKE = "local v = redis.call('GET', KEYS[1]) if v then redis.call('DEL', KEYS[1]) end return v"
_HIT = """local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}"""
# DECR keeps the key's TTL (the window ends when it would have); the last event taken back ends the window
_UNHIT = """local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 1 then redis.call('DECR', KEYS[1]) elseif n == 1 then redis.call('DEL', KEYS[1]) end
return 0"""
_COUNT = "return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('PTTL', KEYS[1])}"
_READ = "return {redis.call('GET', KEYS[1]), tonumber(redis.call('GET', KEYS[2]) or '0'), redis.call('PTTL', KEYS[2])}"


class RedisState:
    shared = True

    def __init__(self, url: str, max_threads: int = 8) -> None:
        tcp = {} if url.startswith("unix:") else {"socket_keepalive": True}  # unix sockets refuse the keyword
        self.client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT,
                                           client_name="smsgate-cache", decode_responses=True,
                                           **tcp)  # type: ignore[arg-type]
        self._limiter = trio.CapacityLimiter(max_threads)
        self._take = self.client.register_script(_TAKE)
        self._hit = self.client.register_script(_HIT)
        self._count = self.client.register_script(_COUNT)
        self._unhit = self.client.register_script(_UNHIT)
        self._read = self.client.register_script(_READ)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def call() -> T:
            return fn(*args, **kwargs)

        try:
            return await trio.to_thread.run_sync(call, limiter=self._limiter)
        except (redis.RedisError, OSError) as exc:
            raise SharedStateUnavailable() from exc

    async def get(self, key: str) -> str | None:
        value = await self._call(self.client.get, PREFIX + key)
        return value if value is None else str(value)

    async def set(self, key: str, value: str, ttl: float) -> None:
        await self._call(self.client.set, PREFIX + key, value, px=max(1, int(ttl * 1000)))

    async def add(self, key: str, value: str, ttl: float) -> bool:
        return bool(await self._call(self.client.set, PREFIX + key, value, px=max(1, int(ttl * 1000)), nx=True))

    async def take(self, key: str) -> str | None:
        value: str | None = await self._call(self._take, keys=[PREFIX + key])
        return value

    async def hit(self, key: str, window: float) -> tuple[int, float]:
        count, left = await self._call(self._hit, keys=[PREFIX + key], args=[max(1, int(window * 1000))])
        return int(count), max(0, int(left)) / 1000

    async def count(self, key: str) -> tuple[int, float]:
        count, left = await self._call(self._count, keys=[PREFIX + key])
        return int(count), max(0, int(left)) / 1000

    async def unhit(self, key: str) -> None:
        await self._call(self._unhit, keys=[PREFIX + key])

    async def read(self, key: str, counter: str) -> tuple[str | None, int, float]:
        value, count, left = await self._call(self._read, keys=[PREFIX + key, PREFIX + counter])
        return (value or None), int(count), max(0, int(left)) / 1000  # a missing value comes back as False

    async def aclose(self) -> None:
        await trio.to_thread.run_sync(self.client.close)
