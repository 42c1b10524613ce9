"""Expires requests at their deadline (`storage.deadline`): one task watches every request of the process.

A task per request would cost about 150 µs each; here a request costs a deque append. Every request has the
same timeout (one watchdog per app), so deadlines arrive in order and a FIFO is a priority queue.
"""

from __future__ import annotations

import math
from collections import deque

import trio

from ..storage.deadline import Deadline


class Watch:
    __slots__ = ("at", "deadline", "scope", "done")

    def __init__(self, at: float, deadline: Deadline, scope: trio.CancelScope) -> None:
        self.at = at
        self.deadline = deadline
        self.scope = scope
        self.done = False  # the request ended: nothing to expire


class Watchdog:
    def __init__(self) -> None:
        self._token: trio.lowlevel.TrioToken | None = None
        self._queue: deque[Watch] = deque()
        self._wake = trio.Event()

    def watch(self, seconds: float, deadline: Deadline, scope: trio.CancelScope) -> Watch:
        """At `seconds` from now, expire `deadline` and cancel `scope`, unless the request committed or ended."""
        entry = Watch(trio.current_time() + seconds, deadline, scope)
        if entry.at == math.inf:
            return entry
        token = trio.lowlevel.current_trio_token()
        if token is not self._token:  # the first request of this trio run (tests run several)
            self._token, self._queue, self._wake = token, deque(), trio.Event()
            trio.lowlevel.spawn_system_task(self._run, self._queue)
        self._queue.append(entry)
        self._wake.set()
        return entry

    async def _run(self, queue: deque[Watch]) -> None:
        while True:
            while not queue:
                self._wake = trio.Event()
                await self._wake.wait()
            entry = queue[0]
            if not entry.done:
                await trio.sleep_until(entry.at)
                if not entry.done and entry.deadline.expire():
                    entry.scope.cancel()
            queue.popleft()
