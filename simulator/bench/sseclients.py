"""Many devices on one server, in a process of their own: `python -m simulator.bench.sseclients SPEC_JSON`.

* `register`: N phones join one account with Basic (one bcrypt for them all); writes their registrations.
* `hold`: opens one SSE stream (`GET /api/mobile/v1/events`) per registration from raw sockets, so that the
  client costs next to nothing; prints a JSON line once all are open, then on each `broadcast` line read from
  stdin changes the account's settings (`PATCH /api/3rdparty/v1/settings`: one `SettingsUpdated` for every
  device) and prints how long the event took to reach the first, half, and all of the streams.

Source addresses rotate over 127.0.0.1-127.0.0.8 so that tens of thousands of loopback connections never run
out of ephemeral ports.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

from .procs import raise_nofile

EVENT = b"event: SettingsUpdated"
SOURCES = 8


def _request(method: str, host: str, port: int, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    if body or method in ("POST", "PATCH", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _call(host: str, port: int, request: bytes, source: str = "127.0.0.1") -> tuple[int, bytes]:
    """One request on a connection of its own: status and body (read by Content-Length)."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    try:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        body = await reader.readexactly(length)
    finally:
        writer.close()
    return int(head[9:12]), body


async def register(spec: dict[str, Any]) -> None:
    host, port, count = spec["host"], spec["port"], spec["count"]
    auth = {"Content-Type": "application/json", "Connection": "close"}
    status, body = await _call(host, port, _request("POST", host, port, "/api/mobile/v1/device", auth, b"{}"))
    first = json.loads(body)
    login, password = first["login"], first["password"]
    basic = "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()
    request = _request("POST", host, port, "/api/mobile/v1/device", {**auth, "Authorization": basic},
                       b'{"name":"bench/sse"}')
    registrations = [{"id": first["id"], "token": first["token"], "login": login, "password": password}]
    limiter = asyncio.Semaphore(32)
    began = time.monotonic()

    async def one(number: int) -> None:
        async with limiter:
            status, body = await _call(host, port, request, f"127.0.0.{1 + number % SOURCES}")
            if status == 201:
                answer = json.loads(body)
                registrations.append({"id": answer["id"], "token": answer["token"], "login": login,
                                      "password": password})

    await asyncio.gather(*(one(n) for n in range(count - 1)))
    spec["registered"] = registrations  # main() writes them to spec["out"], then says so
    spec["summary"] = {"event": "registered", "devices": len(registrations), "login": login, "password": password,
                       "seconds": round(time.monotonic() - began, 1)}


class _Stream(asyncio.Protocol):
    def __init__(self, request: bytes, hub: _Hub) -> None:
        self.request = request
        self.hub = hub
        self.opened = False
        self.tail = b""
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if not self.opened:
            if data.startswith(b"HTTP/1.1 200"):
                self.opened = True
                self.hub.opened += 1
            else:
                self.hub.refused += 1
                assert self.transport is not None
                self.transport.close()
                return
        text = self.tail + data
        if EVENT in text and self.hub.waiting is not None:
            self.hub.reached.append(time.perf_counter())
            if len(self.hub.reached) >= self.hub.opened and not self.hub.waiting.done():
                self.hub.waiting.set_result(None)
            text = b""
        self.tail = text[-len(EVENT):]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.opened:
            self.hub.opened -= 1
            self.hub.closed += 1


class _Hub:
    def __init__(self) -> None:
        self.opened = 0
        self.refused = 0
        self.closed = 0
        self.reached: list[float] = []
        self.waiting: asyncio.Future[None] | None = None


async def hold(spec: dict[str, Any]) -> None:
    host, port = spec["host"], spec["port"]
    registrations = spec.get("loaded") or [{"token": f"t{n}"} for n in range(spec["count"])]
    loop = asyncio.get_running_loop()
    hub = _Hub()
    limiter = asyncio.Semaphore(256)
    began = time.monotonic()
    transports = []

    async def open_one(number: int, token: str) -> None:
        request = _request("GET", host, port, "/api/mobile/v1/events",
                           {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"})
        async with limiter:
            transport, _ = await loop.create_connection(lambda: _Stream(request, hub), host, port,
                                                        local_addr=(f"127.0.0.{1 + number % SOURCES}", 0))
            transports.append(transport)

    await asyncio.gather(*(open_one(n, r["token"]) for n, r in enumerate(registrations)))
    deadline = time.monotonic() + 60
    while hub.opened + hub.refused < len(registrations) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    print(json.dumps({"event": "holding", "streams": hub.opened, "refused": hub.refused,
                      "seconds": round(time.monotonic() - began, 1)}), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).strip():
        if line != b"broadcast":
            break
        hub.reached = []
        hub.waiting = loop.create_future()
        basic = spec.get("authorization", "")
        request = _request("PATCH", host, port, "/api/3rdparty/v1/settings",
                           {"Content-Type": "application/json", "Connection": "close", "Authorization": basic},
                           json.dumps({"messages": {"send_interval_min": 1}}).encode())
        sent = time.perf_counter()
        status, _ = await _call(host, port, request)
        try:
            await asyncio.wait_for(hub.waiting, spec.get("within", 60))
        except TimeoutError:
            pass
        reached = sorted(t - sent for t in hub.reached)
        print(json.dumps({"event": "broadcast", "status": status, "streams": hub.opened, "reached": len(reached),
                          "first_ms": round(reached[0] * 1000, 1) if reached else None,
                          "half_ms": round(reached[len(reached) // 2] * 1000, 1) if reached else None,
                          "all_ms": round(reached[-1] * 1000, 1) if reached else None}), flush=True)
    for transport in transports:
        transport.close()


def main(argv: list[str] | None = None) -> int:
    spec = json.loads((sys.argv[1:] if argv is None else argv)[0])
    raise_nofile()
    if spec.get("registrations"):
        spec["loaded"] = json.loads(Path(spec["registrations"]).read_text())[: spec["count"]]
    asyncio.run({"register": register, "hold": hold}[spec["mode"]](spec))
    if spec["mode"] == "register":
        Path(spec["out"]).write_text(json.dumps(spec["registered"]))
        print(json.dumps(spec["summary"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
