"""The state that guards accounts, shared by every process of one deployment (the `cache.url` port).

One-time codes, credential epochs and the counters of the limits (failed logins, the push relay, the CA's
CSRs) live here. Adapters: `MemoryState` (one
process), `storage.shared_state.DatabaseState` (several processes on one database, no Redis) and
`storage.redis_state.RedisState` (redis://, rediss://, unix://). Keys and values are short strings;
every entry expires.
"""

from __future__ import annotations

from typing import Any, Protocol

import trio

from .errors import Unavailable


class SharedStateUnavailable(Unavailable):
    """The shared store cannot be reached now (503)."""

    def __init__(self, message: str = "cache unavailable, try again later") -> None:
        super().__init__(message)


class SharedState(Protocol):
    shared: bool  # whether other processes see the same entries

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, ttl: float) -> None: ...

    async def add(self, key: str, value: str, ttl: float) -> bool:
        """Set `key` only when absent; whether it was set."""
        ...

    async def take(self, key: str) -> str | None:
        """Get and delete in one step: of concurrent takers across processes, only one gets the value."""
        ...

    async def hit(self, key: str, window: float) -> tuple[int, float]:
        """Count one event in the window that the first event of `key` opened: (count so far, seconds left)."""
        ...

    async def count(self, key: str) -> tuple[int, float]:
        """(events in the current window, seconds left of it); (0, 0) when none."""
        ...

    async def unhit(self, key: str) -> None:
        """Take back one event that `hit` counted in the current window (nothing when the window has ended); a
        window left with no event ends, and the next `hit` opens a new one. For limits that count only what
        succeeded: `hit` books atomically before the work, `unhit` gives the booking back when it failed."""
        ...

    async def read(self, key: str, counter: str) -> tuple[str | None, int, float]:
        """`get(key)` and `count(counter)` in one round trip (the hot path of a cached login)."""
        ...


class MemoryState:
    """One process: dictionaries on Trio's clock (MockClock drives expiry in tests)."""

    shared = False
    MAX_ITEMS = 100_000

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, str]] = {}
        self._counters: dict[str, tuple[float, int]] = {}

    def _live(self, table: dict[str, tuple[float, Any]], key: str) -> bool:
        entry = table.get(key)
        if entry is not None and entry[0] <= trio.current_time():
            del table[key]
            return False
        return entry is not None

    def _sweep(self, table: dict[str, tuple[float, Any]]) -> None:
        if len(table) >= self.MAX_ITEMS:
            current = trio.current_time()
            for key in [k for k, (expires, _) in table.items() if expires <= current]:
                del table[key]
            while len(table) >= self.MAX_ITEMS:
                del table[next(iter(table))]

    async def get(self, key: str) -> str | None:
        return self._items[key][1] if self._live(self._items, key) else None

    async def set(self, key: str, value: str, ttl: float) -> None:
        self._sweep(self._items)
        self._items[key] = (trio.current_time() + ttl, value)

    async def add(self, key: str, value: str, ttl: float) -> bool:
        if self._live(self._items, key):
            return False
        await self.set(key, value, ttl)
        return True

    async def take(self, key: str) -> str | None:
        value = await self.get(key)
        self._items.pop(key, None)
        return value

    async def hit(self, key: str, window: float) -> tuple[int, float]:
        current = trio.current_time()
        if self._live(self._counters, key):
            expires, count = self._counters[key]
        else:
            self._sweep(self._counters)
            expires, count = current + window, 0
        self._counters[key] = (expires, count + 1)
        return count + 1, expires - current

    async def unhit(self, key: str) -> None:
        if self._live(self._counters, key):
            expires, count = self._counters[key]
            if count > 1:
                self._counters[key] = (expires, count - 1)
            else:
                del self._counters[key]

    async def read(self, key: str, counter: str) -> tuple[str | None, int, float]:
        return await self.get(key), *await self.count(counter)

    async def count(self, key: str) -> tuple[int, float]:
        if not self._live(self._counters, key):
            return 0, 0.0
        expires, count = self._counters[key]
        return count, expires - trio.current_time()


class LimitCounters:
    """The counters of a limit (failed logins, relay requests, CSRs): in the shared state, and while it cannot be
    reached, in this process's memory (a limit per process beats none)."""

    def __init__(self, state: SharedState | None = None) -> None:
        self.state: SharedState = state or MemoryState()
        self.local = MemoryState()

    async def hit(self, key: str, window: float) -> tuple[int, float, SharedState]:
        """Count one event: (count so far, seconds left of the window, the store that counted it)."""
        try:
            count, left = await self.state.hit(key, window)
            return count, left, self.state
        except SharedStateUnavailable:
            count, left = await self.local.hit(key, window)
            return count, left, self.local

    async def count(self, key: str) -> tuple[int, float]:
        try:
            return await self.state.count(key)
        except SharedStateUnavailable:
            return await self.local.count(key)
