"""The online tracker: device requests mark `last_seen` in memory; a tick writes them in one batch."""

from __future__ import annotations

import logging
import time
from datetime import datetime

import trio

from ..metrics import Metrics
from ..storage.maintenance import MaintenanceRepository

log = logging.getLogger(__name__)


class OnlineTracker:
    def __init__(self, maintenance: MaintenanceRepository, flush_seconds: float = 60,
                 metrics: Metrics | None = None) -> None:
        self.maintenance = maintenance
        self.flush_seconds = flush_seconds
        self._pending: dict[str, datetime] = {}
        self.metrics = metrics or Metrics()
        self._set_ok = self.metrics.online_status_set.labels("success")
        self._cache_set_ok = self.metrics.online_cache_ops.labels("set", "success")
        self._marks = 0  # since the last publish

    def mark(self, device_id: str, moment: datetime) -> None:
        # On every device request: a plain count here; the counters get it when published (each scrape, each
        # flush). prometheus-client's locked increments would cost more than the mark itself.
        self._marks += 1
        if moment > self._pending.get(device_id, moment.min):
            self._pending[device_id] = moment

    def publish(self) -> None:
        """Adds the marks since the last call to upstream's status-set and cache-set counters."""
        marks, self._marks = self._marks, 0
        if marks:
            self._set_ok.inc(marks)
            self._cache_set_ok.inc(marks)

    def last_seen(self, device_id: str, stored: datetime) -> datetime:
        """What this process knows: the stored value or a newer mark not yet written."""
        return max(stored, self._pending.get(device_id, stored))

    async def flush(self) -> int:
        """Upstream's persist: drain the marks (a cache operation), write them (persistence) in one batch."""
        metrics, started = self.metrics, time.perf_counter()
        self.publish()
        batch, self._pending = self._pending, {}
        metrics.online_cache_ops.labels("drain", "success").inc()
        metrics.online_batch_size.set(len(batch))
        try:
            if batch:
                await self.maintenance.record_last_seen(batch)
        except Exception:
            metrics.online_persist_errors.inc()
            for device_id, moment in batch.items():  # keep them for the next try
                if moment > self._pending.get(device_id, moment.min):
                    self._pending[device_id] = moment
            raise
        finally:
            metrics.online_persist_latency.observe(time.perf_counter() - started)
        return len(batch)

    async def run(self) -> None:
        """Flushes every `flush_seconds`; the app flushes once more when it stops."""
        while True:
            await trio.sleep(self.flush_seconds)
            try:
                await self.flush()
            except Exception:
                log.exception("writing last_seen failed; will retry")
