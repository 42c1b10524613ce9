"""Failed credential checks per client IP: past `auth.failed_login_limit` a minute, such requests get 429.

Only failures count, and while a client is over the limit its credentials are not checked at all (a correct
password gets 429 too), so that the limit caps guesses rather than just hiding their outcome. Trio's clock:
MockClock drives it in tests.
"""

from __future__ import annotations

from collections import deque

import trio

from ..domain.errors import RateLimited

MAX_CLIENTS = 10_000  # tracked addresses before the stale ones are swept


class FailedLoginLimiter:
    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit  # 0: no limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def check(self, client: str) -> None:
        """Raises RateLimited when `client` failed `limit` times within the window."""
        if self.limit and len(self._recent(client)) >= self.limit:
            raise RateLimited("Too Many Requests")

    def failed(self, client: str) -> None:
        if not self.limit:
            return
        if len(self._failures) >= MAX_CLIENTS:
            self._sweep()
        self._failures.setdefault(client, deque()).append(trio.current_time())

    def _recent(self, client: str) -> deque[float]:
        failures = self._failures.get(client)
        if failures is None:
            return deque()
        horizon = trio.current_time() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[client]
        return failures

    def _sweep(self) -> None:
        for client in list(self._failures):
            self._recent(client)
