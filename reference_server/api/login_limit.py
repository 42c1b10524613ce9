"""Failed credential checks per client IP: past `auth.failed_login_limit` a minute, such requests get 429.

Only failures count, and while a client is over the limit its credentials are not checked at all (a correct
password gets 429 too), so that the limit caps guesses rather than just hiding their outcome. The counters
live in the shared state (`cache.url`), so every process of a deployment counts toward one limit; a window
opens at a client's first failure and the 429 says in Retry-After when it ends. While the shared state is
unreachable, each process counts on its own (a limit per process beats none).
"""

from __future__ import annotations

import math

from ..domain.errors import RateLimited
from ..domain.shared_state import LimitCounters, SharedState


class FailedLoginLimiter:
    def __init__(self, limit: int, window: float = 60.0, state: SharedState | None = None) -> None:
        self.limit = limit  # 0: no limit
        self.window = window
        self.counters = LimitCounters(state)

    @staticmethod
    def key(client: str) -> str:
        return f"failed-logins:{client}"

    def verdict(self, count: int, left: float) -> None:
        """Raises RateLimited when `count` failures (window ending in `left` seconds) reach the limit."""
        if self.limit and count >= self.limit:
            raise RateLimited("Too Many Requests", retry_after=max(1, math.ceil(left)))

    async def check(self, client: str) -> None:
        """Raises RateLimited when `client` failed `limit` times within the window."""
        if not self.limit:
            return
        self.verdict(*await self.counters.count(self.key(client)))

    async def failed(self, client: str) -> None:
        if not self.limit:
            return
        await self.counters.hit(self.key(client), self.window)
