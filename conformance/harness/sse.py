"""A strict Server-Sent Events reader (WHATWG parsing rules) that keeps the raw stream for the report."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import trio


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str


@dataclass
class SseParser:
    events: list[SseEvent] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _pending: str = ""

    def feed(self, text: str) -> None:
        self._pending += text
        while True:
            cut = min((i for i in (self._pending.find("\r"), self._pending.find("\n")) if i >= 0), default=-1)
            if cut < 0:
                return
            if self._pending[cut] == "\r" and cut + 1 == len(self._pending):
                return  # a CR at the end may be the first half of CRLF
            line = self._pending[:cut]
            skip = 2 if self._pending[cut:cut + 2] == "\r\n" else 1
            self._pending = self._pending[cut + skip:]
            self._line(line)

    def _line(self, line: str) -> None:
        if not line:
            if self._data:
                self.events.append(SseEvent(self._event or "message", "\n".join(self._data)))
            self._event, self._data = "", []
            return
        if line.startswith(":"):
            self.comments.append(line[1:])
            return
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self.ids.append(value)


class SseStream:
    """`GET url` with a device token, read in the background while the scenario acts."""

    def __init__(self, http: httpx.AsyncClient, url: str, token: str) -> None:
        self.http = http
        self.url = url
        self.token = token
        self.parser = SseParser()
        self.raw = ""
        self.status = 0
        self.headers: httpx.Headers = httpx.Headers()

    @property
    def events(self) -> list[SseEvent]:
        return self.parser.events

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
        async with self.http.stream("GET", self.url, headers=headers, timeout=httpx.Timeout(10, read=None)) as response:
            self.status, self.headers = response.status_code, response.headers
            task_status.started()
            if response.status_code != 200:
                await response.aread()
                self.raw = response.text
                return
            async for chunk in response.aiter_text():
                self.raw += chunk
                self.parser.feed(chunk)
