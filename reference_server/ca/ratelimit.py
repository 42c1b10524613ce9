"""Per-client limit on CSR submissions (`ca.rate_limit` a minute), counted in the shared state.

Only accepted submissions count, as in upstream's limiter design: `acquire` books a slot before the work (one
atomic count, so concurrent submissions cannot all slip under the limit) and `release` gives it back when the
request fails, so a typo does not lock a person out for a minute. Mounted inside smsgate-server the counts live
in its `cache.url`, so every process of a deployment counts toward one limit; a window opens at a client's first
booked submission. While the shared state is unreachable, each process counts on its own (a limit per process
beats none). The standalone CA (one process) counts in memory, on Trio's clock (MockClock drives it in tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..domain.shared_state import LimitCounters, SharedState, SharedStateUnavailable


@dataclass
class Booking:
    """A slot booked for one submission; `release` gives it back when the submission did not go through."""

    store: SharedState | None = None  # None: nothing was counted (no limit)
    key: str = ""

    async def release(self) -> None:
        if self.store is not None:
            await _give_back(self.store, self.key)
            self.store = None


class RateLimiter:
    def __init__(self, limit: int, window: float = 60.0, state: SharedState | None = None) -> None:
        self.limit = limit  # 0: no limit
        self.window = window
        self.counters = LimitCounters(state)

    async def acquire(self, client: str) -> Booking | float:
        """Book a slot for `client`: the booking, or the seconds until a slot frees up."""
        if self.limit <= 0:
            return Booking()
        key = f"ca-csr:{client}"
        count, left, store = await self.counters.hit(key, self.window)
        if count > self.limit:
            await _give_back(store, key)  # a refused request is not a submission either
            return max(left, 0.0)
        return Booking(store, key)


async def _give_back(store: SharedState, key: str) -> None:
    try:
        await store.unhit(key)
    except SharedStateUnavailable:
        pass  # the booking stays counted until its window ends: stricter, never looser


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
