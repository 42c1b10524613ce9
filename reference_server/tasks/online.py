"""The online tracker: device requests mark `last_seen` in memory; a tick writes them in one batch."""

from __future__ import annotations

import logging
from datetime import datetime

import trio

from ..storage.maintenance import MaintenanceRepository

log = logging.getLogger(__name__)


class OnlineTracker:
    def __init__(self, maintenance: MaintenanceRepository, flush_seconds: float = 60) -> None:
        self.maintenance = maintenance
        self.flush_seconds = flush_seconds
        self._pending: dict[str, datetime] = {}

    def mark(self, device_id: str, moment: datetime) -> None:
        if moment > self._pending.get(device_id, moment.min):
            self._pending[device_id] = moment

    def last_seen(self, device_id: str, stored: datetime) -> datetime:
        """What this process knows: the stored value or a newer mark not yet written."""
        return max(stored, self._pending.get(device_id, stored))

    async def flush(self) -> int:
        batch, self._pending = self._pending, {}
        if batch:
            try:
                await self.maintenance.record_last_seen(batch)
            except Exception:
                for device_id, moment in batch.items():  # keep them for the next try
                    self.mark(device_id, moment)
                raise
        return len(batch)

    async def run(self) -> None:
        """Flushes every `flush_seconds`; the app flushes once more when it stops."""
        while True:
            await trio.sleep(self.flush_seconds)
            try:
                await self.flush()
            except Exception:
                log.exception("writing last_seen failed; will retry")
