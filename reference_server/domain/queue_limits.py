"""Queue limits (`messages.queue.*`): refuse new messages for a device whose queue looks stuck (503).

Verdicts are computed per device and cached for `stats_refresh_interval`, so a busy sender costs
one statistics query per device per interval; a verdict may therefore lag by one interval, as upstream's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from ..storage.maintenance import MaintenanceRepository
from .cache import TTLCache
from .clock import format_time, now
from .errors import Unavailable


@dataclass(frozen=True)
class QueueLimits:
    max_pending: int = 0
    max_pending_age: timedelta = timedelta(0)
    max_failed: int = 0
    max_failed_age: timedelta = timedelta(0)
    refresh: timedelta = timedelta(seconds=5)

    @property
    def enabled(self) -> bool:
        return bool(self.max_pending or self.max_pending_age or self.max_failed)


class QueueLimiter:
    def __init__(self, limits: QueueLimits, stats: MaintenanceRepository,
                 count: Callable[[str], None] | None = None) -> None:
        self.limits = limits
        self.stats = stats
        self._verdicts: TTLCache[str, str] = TTLCache(limits.refresh.total_seconds())
        self._count = count or (lambda _result: None)

    async def check(self, device_id: str) -> None:
        if not self.limits.enabled:
            return
        verdict = self._verdicts.get(device_id)
        if verdict is None:
            verdict = await self._verdict(device_id)
            self._verdicts.set(device_id, verdict)
        self._count("limited" if verdict else "allowed")
        if verdict:
            raise Unavailable(f"failed to enqueue message: queue limits exceeded: {verdict}")

    async def _verdict(self, device_id: str) -> str:
        """The first limit this device breaks, or "" when none."""
        limits, moment = self.limits, now()
        # As upstream: the failed-streak check needs both max_failed and a window (max_failed_age 0 = off).
        check_failed = limits.max_failed and limits.max_failed_age
        failed_since = moment - limits.max_failed_age if check_failed else None
        oldest, pending, recent = await self.stats.queue_stats(
            device_id, moment, limits.max_failed if check_failed else 0, failed_since)
        if limits.max_pending_age and oldest is not None and oldest < moment - limits.max_pending_age:
            return f"too old pending message: {format_time(oldest)}"
        if limits.max_pending and pending >= limits.max_pending:
            return f"too many pending messages: {pending} / {limits.max_pending}"
        if check_failed and len(recent) >= limits.max_failed and all(s == "Failed" for s in recent):
            return "too many failed messages"
        return ""
