"""`WebhooksUpdateWorker` and `SettingsUpdateWorker`: the app's 24-hour periodic jobs.

Each is `enqueueUniquePeriodicWork(REPLACE)`, at the start (`GatewayService.start`) and on each
`WebhooksUpdated` / `SettingsUpdated` event: a trigger aborts the job's GET in flight, runs it at
once and restarts its 24-hour period. A failed GET is retried with WorkManager's exponential
backoff (10 s x 2^(n-1), cap 5 h). WorkManager runs enqueued jobs side by side, so the two jobs
(and the pull, and the start's PATCH /device) are concurrent: no order between them.
One long-lived task serves both jobs, and the phone's ping timer (`every`): a phone is cheap only if it has
few tasks.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import trio

BACKOFF = 10.0  # WorkManager's minimum (and the app's) exponential backoff
MAX_BACKOFF = 5 * 3600.0
DAILY = 24 * 3600.0

Job = Callable[[], Awaitable[bool]]  # True when the GET succeeded


class Refresher:
    def __init__(self, jobs: dict[str, Job]) -> None:
        self.jobs = jobs
        self.due = dict.fromkeys(jobs, math.inf)
        self.failures = dict.fromkeys(jobs, 0)
        self._running: dict[str, trio.CancelScope] = {}
        self._wake = trio.Event()
        self._tick: Callable[[], float] | None = None
        self._tick_due = math.inf

    def every(self, tick: Callable[[], float]) -> None:
        """Run `tick` (synchronous) now, then again after each delay it returns; on the refresher's own task
        instead of a task of its own."""
        self._tick, self._tick_due = tick, trio.current_time()
        self._wake.set()

    def trigger(self, *names: str) -> None:
        """REPLACE: abort the job in flight, run it now, reset its backoff and its 24-hour period."""
        for name in names:
            scope = self._running.get(name)
            if scope is not None:
                scope.cancel()
            self.due[name], self.failures[name] = trio.current_time(), 0
        self._wake.set()

    async def start(self, *names: str) -> None:
        """The start's first run of the named jobs, side by side; returns once each has answered."""
        async with trio.open_nursery() as nursery:
            for name in names:
                self.due[name], self.failures[name] = math.inf, 0
                nursery.start_soon(self._attempt, name)

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            while True:
                now = trio.current_time()
                if self._tick is not None and self._tick_due <= now:
                    self._tick_due = now + self._tick()
                for name, due in self.due.items():
                    if due <= now and name not in self._running:
                        self.due[name] = math.inf
                        self._running[name] = trio.CancelScope()  # claimed before the task starts
                        nursery.start_soon(self._attempt, name)
                waiting = [due for name, due in self.due.items() if name not in self._running]
                waiting.append(self._tick_due)
                self._wake = trio.Event()
                with trio.move_on_at(min(waiting, default=math.inf)):
                    await self._wake.wait()

    async def _attempt(self, name: str) -> None:
        scope = self._running.get(name) or trio.CancelScope()
        self._running[name] = scope
        try:
            with scope:
                ok = await self.jobs[name]()
            if scope.cancelled_caught:
                return  # replaced: the trigger has set the next run
            self.failures[name] = 0 if ok else self.failures[name] + 1
            failures = self.failures[name]
            self.due[name] = trio.current_time() + (min(BACKOFF * 2 ** (failures - 1), MAX_BACKOFF)
                                                    if failures else DAILY)
        finally:
            if self._running.get(name) is scope:
                del self._running[name]
            self._wake.set()
