"""Long-lived loops started the first time they have work: an idle phone then holds no task for them.

A Trio task with its coroutine frame costs some kilobytes; ten thousand idle phones each with a webhook queue,
a report queue and a send loop that never run were most of an idle phone's memory beside its SSE stream.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio


class OnDemand:
    """`run` started in the phone's nursery at the first `start()` while attached; it then runs as before
    (until the nursery is cancelled). `attach` at each start of the phone, `detach` when it stops."""

    __slots__ = ("run", "nursery", "started")

    def __init__(self, run: Callable[[], Awaitable[None]]) -> None:
        self.run = run
        self.nursery: trio.Nursery | None = None
        self.started = False

    def attach(self, nursery: trio.Nursery, now: bool = False) -> None:
        self.nursery, self.started = nursery, False
        if now:
            self.start()

    def detach(self) -> None:
        self.nursery, self.started = None, False

    def start(self) -> None:
        if self.nursery is not None and not self.started:
            self.started = True
            self.nursery.start_soon(self.run)
