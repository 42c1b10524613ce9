"""State reports (`SendStateWorker`): `PATCH /message` with a one-item array holding the whole message.

One report is queued per state change; it reads the message's *current* state when it runs:
`{"id", "state", "recipients": [{"phoneNumber", "state", "error"?}], "states": {state: phone-local time}}`.
A failed PATCH is retried after 10 s x 2^n while fewer than 10 retries have run, then dropped.
Each report is its own WorkManager job in the app, so reports run concurrently and can reach the
server out of order (a Sent after the Delivered); updates after a recipient's Failed are still sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import httpx
import trio

from .api import ApiError, GatewayApi
from .clock import PhoneClock
from .ondemand import OnDemand
from .store import LocalMessage

RETRY_COUNT = 10
BASE_BACKOFF = 10.0
MAX_BACKOFF = 5 * 3600.0

Report = str | dict[str, Any]  # a message id (read at run time) or a ready item


def report_item(message: LocalMessage, clock: PhoneClock) -> dict[str, Any]:
    return {
        "id": message.id,
        "state": message.state,
        "recipients": [{"phoneNumber": r.phone_number, "state": r.state, "error": r.error}
                       for r in message.recipients],
        "states": {state: clock.format(at) for state, at in message.states.items()},
    }


class Reporter:
    def __init__(self, api: GatewayApi, clock: PhoneClock, lookup: Callable[[str], LocalMessage | None],
                 on_error: Callable[[str], None]) -> None:
        self.api = api
        self.clock = clock
        self.lookup = lookup
        self.on_error = on_error
        self.sent = 0
        self._channel: tuple[trio.MemorySendChannel[tuple[Report, int]],
                             trio.MemoryReceiveChannel[tuple[Report, int]]] | None = None
        self.task = OnDemand(self.run)  # started at the first report: an idle phone has none

    @property
    def _send(self) -> trio.MemorySendChannel[tuple[Report, int]]:
        return self._queue()[0]

    @property
    def _receive(self) -> trio.MemoryReceiveChannel[tuple[Report, int]]:
        return self._queue()[1]

    def _queue(self) -> tuple[trio.MemorySendChannel[tuple[Report, int]],
                              trio.MemoryReceiveChannel[tuple[Report, int]]]:
        if self._channel is None:
            self._channel = trio.open_memory_channel[tuple[Report, int]](math.inf)
        return self._channel

    @property
    def queued(self) -> bool:
        return self._channel is not None and self._channel[1].statistics().current_buffer_used > 0

    def report(self, what: Report) -> None:
        self._send.send_nowait((what, 0))
        self.task.start()

    async def run(self) -> None:
        async with trio.open_nursery() as jobs:
            async for what, attempt in self._receive:
                jobs.start_soon(self._job, what, attempt)

    async def _job(self, what: Report, attempt: int) -> None:
        if isinstance(what, str):
            message = self.lookup(what)
            if message is None:
                return
            item = report_item(message, self.clock)
        else:
            item = what
        try:
            await self.api.patch_messages([item])
            self.sent += 1
        except (ApiError, httpx.HTTPError, OSError) as exc:
            self.on_error(f"PATCH /message {item['id']}: {exc}")
            if attempt < RETRY_COUNT:
                await trio.sleep(min(BASE_BACKOFF * 2 ** attempt, MAX_BACKOFF))
                self._send.send_nowait((what, attempt + 1))
