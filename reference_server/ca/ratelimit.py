"""Per-client sliding-window limit on CSR submissions, on Trio's clock (so MockClock drives it in tests).

Only accepted submissions count, as in upstream's limiter design: `acquire` books a slot before the work and
`release` gives it back when the request fails, so a typo does not lock a person out for a minute.
"""

from __future__ import annotations

import math
from collections import deque

import trio


class RateLimiter:
    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit  # 0: no limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}

    def _live(self, key: str, moment: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= moment - self.window:
            hits.popleft()
        return hits

    def acquire(self, key: str) -> float | None:
        """Book a slot for `key`: None when granted, else the seconds until one frees up."""
        if self.limit <= 0:
            return None
        moment = trio.current_time()
        hits = self._live(key, moment)
        if len(hits) >= self.limit:
            return max(hits[0] + self.window - moment, 0.0)
        hits.append(moment)
        return None

    def release(self, key: str) -> None:
        """Give back the slot the last `acquire` booked (the request did not go through)."""
        hits = self._hits.get(key)
        if hits:
            hits.pop()

    def prune(self) -> None:
        """Forget clients whose hits have all left the window (keeps memory bounded)."""
        moment = trio.current_time()
        for key in [key for key in self._hits if not self._live(key, moment)]:
            del self._hits[key]


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
