"""Real-HTTP helpers for the notification tests: the app under Hypercorn in this Trio run, and an SSE reader."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from quart_trio import QuartTrio

from reference_server.app import begin_shutdown


@asynccontextmanager
async def served(app: QuartTrio) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port for the block; yields the base URL. Shuts down as the CLI does."""
    config = HypercornConfig()
    config.bind = ["127.0.0.1:0"]
    config.graceful_timeout = 5
    config.accesslog = None
    stop = trio.Event()

    async def shutdown_trigger() -> None:
        await stop.wait()
        begin_shutdown(app)

    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, config, shutdown_trigger=shutdown_trigger))  # type: ignore
        try:
            yield binds[0]
        finally:
            stop.set()


@dataclass
class Frame:
    event: str | None
    data: Any  # the decoded JSON of the data line
    comment: str | None = None


class SseReader:
    """Reads frames from an open event-stream response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, within: float = 2.0, comments: bool = False) -> Frame:
        with trio.fail_after(within):
            while True:
                frame = await self._frame()
                if frame.comment is None or comments:
                    return frame

    async def _frame(self) -> Frame:
        event, data, comment = None, None, None
        async for line in self._lines:
            if line == "":
                if event is not None or data is not None or comment is not None:
                    return Frame(event, json.loads(data) if data is not None else None, comment)
                continue
            field, _, value = line.partition(":")
            if field == "":
                comment = value
            elif field == "event":
                event = value.strip()
            elif field == "data":
                data = value.strip()
        raise EOFError("the stream ended")

    async def nothing_for(self, seconds: float) -> None:
        """Assert that no event frame (comments aside) arrives within `seconds`."""
        with trio.move_on_after(seconds):
            frame = await self.next(within=seconds + 1)
            raise AssertionError(f"unexpected frame {frame}")


async def eventually(predicate: Callable[[], bool], within: float = 5.0, poll: float = 0.01) -> None:
    """Wait until `predicate()` holds (checked every `poll` seconds); fail after `within` seconds."""
    with trio.fail_after(within):
        while not predicate():  # noqa: ASYNC110 - the state polled here has no event to wait on
            await trio.sleep(poll)


@asynccontextmanager
async def event_stream(http: httpx.AsyncClient, device_token: str) -> AsyncIterator[SseReader]:
    async with http.stream("GET", "/api/mobile/v1/events",
                           headers={"Authorization": f"Bearer {device_token}"}) as response:
        assert response.status_code == 200, await response.aread()
        yield SseReader(response)
