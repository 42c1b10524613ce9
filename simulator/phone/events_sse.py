"""Events over SSE (`SSEManager`): `GET /events` held open, a pull on every (re)connect, and the
app's reconnect schedule: 5 s for attempts 1-5, 30 s for 6-10, then 60 s; a successful open resets it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import httpx
import trio

log = logging.getLogger(__name__)

USER_AGENT = "okhttp/4.10.0"  # the SSE client is a bare OkHttp client
READ_TIMEOUT = 3600.0


def reconnect_delay(attempt: int) -> float:
    return 5.0 if attempt <= 5 else 30.0 if attempt <= 10 else 60.0


class SseEvents:
    def __init__(self, http: httpx.AsyncClient, url: str, token: Callable[[], str],
                 on_open: Callable[[], None], on_event: Callable[[str, str], Awaitable[None]],
                 on_close: Callable[[str], None]) -> None:
        self.http = http
        self.url = url
        self.token = token
        self.on_open = on_open
        self.on_event = on_event
        self.on_close = on_close
        self.attempt = 0
        self.opens = 0

    async def run(self) -> None:
        while True:
            try:
                await self._stream()
                reason = "closed"
            except (httpx.HTTPError, OSError, _Refused) as exc:
                reason = f"{exc.__class__.__name__}: {exc}"
            self.on_close(reason)
            self.attempt += 1
            await trio.sleep(reconnect_delay(self.attempt))

    async def _stream(self) -> None:
        # OkHttp's EventSources adds `Accept: text/event-stream` to a request that has no Accept
        headers = {"Authorization": f"Bearer {self.token()}", "User-Agent": USER_AGENT, "Accept": "text/event-stream"}
        timeout = httpx.Timeout(10.0, read=READ_TIMEOUT)
        async with self.http.stream("GET", self.url, headers=headers, timeout=timeout) as response:
            if response.status_code != 200:
                await response.aread()
                raise _Refused(f"HTTP {response.status_code}")
            self.attempt = 0
            self.opens += 1
            self.on_open()
            event: str | None = None
            data: list[str] = []
            async for line in response.aiter_lines():
                if line == "":
                    if data:  # OkHttp dispatches only events with data
                        await self.on_event(event or "MessageEnqueued", "\n".join(data))
                    event, data = None, []
                elif line.startswith(":"):
                    continue
                else:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "event":
                        event = value or None
                    elif name == "data":
                        data.append(value)


class _Refused(Exception):
    pass
