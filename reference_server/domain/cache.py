"""A small in-process TTL cache on Trio's clock (so trio.testing.MockClock drives expiry in tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import trio

K = TypeVar("K")
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    def __init__(self, ttl_seconds: float, max_items: int = 100_000) -> None:
        self.ttl = ttl_seconds
        self.max_items = max_items
        self._items: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._items.get(key)
        if entry is None:
            return None
        if entry[0] <= trio.current_time():
            del self._items[key]
            return None
        return entry[1]

    def set(self, key: K, value: V) -> None:
        if len(self._items) >= self.max_items:
            self._evict_expired_or_oldest()
        self._items[key] = (trio.current_time() + self.ttl, value)

    def drop(self, key: K) -> None:
        self._items.pop(key, None)

    def drop_where(self, predicate: Callable[[V], bool]) -> None:
        for key in [k for k, (_, v) in self._items.items() if predicate(v)]:
            del self._items[key]

    def _evict_expired_or_oldest(self) -> None:
        current = trio.current_time()
        for key in [k for k, (expires, _) in self._items.items() if expires <= current]:
            del self._items[key]
        if len(self._items) >= self.max_items:
            del self._items[next(iter(self._items))]
