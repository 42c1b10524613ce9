"""The push queue (contract §4.3): coalescing per (token, event type), a flush every debounce period,
retries, and a 15-minute blacklist for a token after 3 failed attempts.

Time is Trio's clock, so `trio.testing.MockClock` drives debounce and blacklist expiry in tests.
"""

from __future__ import annotations

import logging

import trio

from ..metrics import Metrics
from .notifier import DeviceEvent
from .senders import PushItem, PushSender

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
BLACKLIST_SECONDS = 15 * 60.0


class PushQueue:
    """Also the `PushSink` of the upstream relay route: relayed items join the same queue."""

    def __init__(self, sender: PushSender, metrics: Metrics, debounce: float, *,
                 max_attempts: int = MAX_ATTEMPTS, blacklist_seconds: float = BLACKLIST_SECONDS) -> None:
        self.sender = sender
        self.metrics = metrics
        self.debounce = debounce
        self.max_attempts = max_attempts
        self.blacklist_seconds = blacklist_seconds
        self._pending: dict[tuple[str, str], PushItem] = {}
        self._blacklist: dict[str, float] = {}  # token -> Trio time it leaves the blacklist

    @property
    def pending(self) -> list[PushItem]:
        return list(self._pending.values())

    def blacklisted(self, token: str) -> bool:
        until = self._blacklist.get(token)
        if until is None:
            return False
        if until <= trio.current_time():
            del self._blacklist[token]
            return False
        return True

    async def enqueue(self, token: str, event: DeviceEvent) -> None:
        """Queue `event` for `token`; a later event of the same type before the flush replaces it."""
        if self.blacklisted(token):
            self.metrics.push_blacklist.labels("skipped").inc()
            return
        self._pending[(token, event.type)] = PushItem(token, event)
        self.metrics.push_enqueued.labels(event.type).inc()

    async def flush(self) -> None:
        """Send everything queued as one batch; failed items go back (unless replaced meanwhile)."""
        batch, self._pending = list(self._pending.values()), {}
        self._forget_expired()
        skipped = [item for item in batch if self.blacklisted(item.token)]
        if skipped:  # blacklisted while waiting (another event type of the same token failed)
            self.metrics.push_blacklist.labels("skipped").inc(len(skipped))
            batch = [item for item in batch if not self.blacklisted(item.token)]
        if not batch:
            return
        try:
            results = await self.sender.send(batch)
        except Exception as exc:  # a sender bug must not stop the queue: count it as a failed batch
            log.exception("push sender failed")
            results = [exc] * len(batch)
        for item, error in zip(batch, results, strict=True):
            if error is not None:
                self._failed(item, error)

    def _failed(self, item: PushItem, error: Exception) -> None:
        self.metrics.push_errors.inc()
        item.retries += 1
        if item.retries >= self.max_attempts:
            self._blacklist[item.token] = trio.current_time() + self.blacklist_seconds
            self.metrics.push_blacklist.labels("added").inc()
            log.warning("push token …%s blacklisted for %ds after %d failed attempts (last: %s)",
                        item.token[-6:], self.blacklist_seconds, item.retries, error)
            return
        log.info("push %s to token …%s failed (%s), retry %d", item.event.type, item.token[-6:], error,
                 item.retries)
        # set-if-absent: an event of the same type queued during the send is newer and wins
        self._pending.setdefault((item.token, item.event.type), item)
        self.metrics.push_retries.inc()

    def _forget_expired(self) -> None:
        moment = trio.current_time()
        for token in [t for t, until in self._blacklist.items() if until <= moment]:
            del self._blacklist[token]

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Flush every `debounce` seconds until cancelled."""
        task_status.started()
        while True:
            await trio.sleep(self.debounce)
            await self.flush()
