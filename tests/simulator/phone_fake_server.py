"""An in-memory mobile API (httpx.MockTransport) for the phone's time-driven tests under MockClock.

It records every request with the Trio time it arrived, serves `pending` messages on GET /message
until a PATCH names them, streams SSE frames pushed with `event()`, and answers webhook URLs
(`https://hooks.test/...`) with the statuses queued in `hook_statuses` (then 200).
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

BASE = "http://fake.test/api/mobile/v1"


@dataclass
class Seen:
    at: float
    method: str
    path: str
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeServer:
    pending: list[dict[str, Any]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    sse_failures: int = 0  # the next N GET /events answer 503
    patch_failures: int = 0  # the next N PATCH /message answer 500
    patch_device_status: int = 204
    hooks: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    hook_statuses: list[int] = field(default_factory=list)
    registrations: int = 0

    def __post_init__(self) -> None:
        self._streams: list[trio.MemorySendChannel[bytes | None]] = []

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))

    def calls(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]

    def patches(self) -> list[dict[str, Any]]:
        """The items of every PATCH /message, in order (each body is a one-item array)."""
        items = []
        for seen in self.calls("PATCH", "/message"):
            body = seen.json()
            assert isinstance(body, list) and len(body) == 1, body
            items.append(body[0])
        return items

    def event(self, name: str | None, data: str = "null") -> None:
        frame = (f"event: {name}\n" if name else "") + f"data: {data}\n\n"
        for stream in self._streams:
            stream.send_nowait(frame.encode())

    def close_streams(self) -> None:
        for stream in self._streams:
            stream.send_nowait(None)
        self._streams.clear()

    async def handler(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        url = request.url
        if url.host == "hooks.test":
            self.seen.append(Seen(trio.current_time(), request.method, url.path, request.headers, body))
            return httpx.Response(self.hook_statuses.pop(0) if self.hook_statuses else 200)
        path = url.path.removeprefix("/api/mobile/v1")
        self.seen.append(Seen(trio.current_time(), request.method, path, request.headers, body))
        route = (request.method, path)
        if route == ("POST", "/device"):
            self.registrations += 1
            n = self.registrations
            return httpx.Response(201, json={"id": f"device-{n}", "token": f"token-{n}", "login": f"LOGIN{n}",
                                             "password": f"password-{n}"})
        if route == ("PATCH", "/device"):
            return httpx.Response(self.patch_device_status)
        if route == ("GET", "/message"):
            return httpx.Response(200, json=self.pending)
        if route == ("PATCH", "/message"):
            if self.patch_failures:
                self.patch_failures -= 1
                return httpx.Response(500, text="boom")
            reported = {item["id"] for item in json.loads(body)}
            self.pending = [m for m in self.pending if m["id"] not in reported]
            return httpx.Response(204)
        if route == ("GET", "/webhooks"):
            return httpx.Response(200, json=self.hooks)
        if route == ("GET", "/settings"):
            return httpx.Response(200, json=self.settings)
        if route == ("GET", "/events"):
            if self.sse_failures:
                self.sse_failures -= 1
                return httpx.Response(503, text="unavailable")
            send, receive = trio.open_memory_channel[bytes | None](math.inf)
            self._streams.append(send)
            return httpx.Response(200, headers={"Content-Type": "text/event-stream"}, content=_frames(receive))
        return httpx.Response(404, json={"message": "not found"})


async def _frames(receive: trio.MemoryReceiveChannel[bytes | None]) -> AsyncIterator[bytes]:
    async for frame in receive:
        if frame is None:
            return
        yield frame


def message(id: str, *numbers: str, text: str = "hi", **extra: Any) -> dict[str, Any]:
    """A `MobileMessage` as the server sends it."""
    return {"id": id, "message": text, "textMessage": {"text": text}, "phoneNumbers": list(numbers) or ["+15550001"],
            "isEncrypted": False, "withDeliveryReport": True, "state": "Pending",
            "createdAt": "2026-01-01T00:00:00Z", **extra}
