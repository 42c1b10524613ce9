"""Queue limits (`messages.queue.*`): refuse new messages for a device whose queue looks stuck (503).

Verdicts are computed per device and cached for `stats_refresh_interval`, so a busy sender costs
one statistics query per device per interval; a verdict may therefore lag by one interval, as upstream's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy.exc

from ..metrics import Metrics
from ..storage.maintenance import MaintenanceRepository
from .cache import TTLCache
from .clock import format_time, now
from .errors import Unavailable

log = logging.getLogger(__name__)


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
    def __init__(self, limits: QueueLimits, stats: MaintenanceRepository, metrics: Metrics | None = None) -> None:
        self.limits = limits
        self.stats = stats
        self._verdicts: TTLCache[str, str] = TTLCache(limits.refresh.total_seconds())
        self.metrics = metrics or Metrics()

    async def check(self, device_id: str) -> None:
        if not self.limits.enabled:
            return
        verdict = self._verdicts.get(device_id)
        if verdict is None:
            # Upstream refreshes the devices queued since its last tick in one batch; ours refreshes one device,
            # on demand, when its verdict has expired: a refresh of a batch of one.
            self.metrics.limiter_refreshes.inc()
            self.metrics.limiter_batch_size.set(1)
            verdict = await self._verdict(device_id)
            if verdict is None:
                return  # the statistics could not be read: allowed, as upstream (the error is counted)
            self._verdicts.set(device_id, verdict)
        self.metrics.limiter_checks.labels("limited" if verdict else "allowed").inc()
        if verdict:
            raise Unavailable(f"failed to enqueue message: queue limits exceeded: {verdict}")

    async def _verdict(self, device_id: str) -> str | None:
        """The first limit this device breaks, "" when none, None when the statistics could not be read."""
        limits, moment = self.limits, now()
        # As upstream: the failed-streak check needs both max_failed and a window (max_failed_age 0 = off).
        check_failed = limits.max_failed and limits.max_failed_age
        failed_since = moment - limits.max_failed_age if check_failed else None
        try:
            oldest, pending, recent = await self.stats.queue_stats(
                device_id, moment, limits.max_failed if check_failed else 0, failed_since)
        except sqlalchemy.exc.SQLAlchemyError:
            log.exception("queue limits of device %s: statistics query failed", device_id)
            for check, enabled in (("max_pending_age", limits.max_pending_age), ("max_pending", limits.max_pending),
                                   ("max_failed", check_failed)):
                if enabled:
                    self.metrics.limiter_query_errors.labels(check).inc()
            return None
        if limits.max_pending_age and oldest is not None and oldest < moment - limits.max_pending_age:
            return f"too old pending message: {format_time(oldest)}"
        if limits.max_pending and pending >= limits.max_pending:
            return f"too many pending messages: {pending} / {limits.max_pending}"
        if check_failed and len(recent) >= limits.max_failed and all(s == "Failed" for s in recent):
            return "too many failed messages"
        return ""
