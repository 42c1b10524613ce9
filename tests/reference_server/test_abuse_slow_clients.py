"""Slow clients are cut off by timeouts (a real server process over raw sockets): request headers that trickle
in are dropped after `http.idle_timeout` (slow-loris), a body that does not arrive within `http.read_timeout`
gets 408; other clients are served meanwhile, and an SSE stream, which sends nothing for hours, is not cut."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
import trio
from live_server import LiveServer

pytestmark = pytest.mark.slow

IDLE = 1.0
READ = 1.0
SLACK = 2.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("slow")
    with LiveServer(workdir, env={"DATABASE__URL": f"sqlite:///{workdir / 'smsgate.db'}",
                                  "HTTP__IDLE_TIMEOUT": f"{IDLE}s", "HTTP__READ_TIMEOUT": f"{READ}s",
                                  "SSE__KEEP_ALIVE_PERIOD_SECONDS": "1"}) as live:
        yield live


def _connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.settimeout(10)
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> tuple[float, bytes]:
    """Reads until the server closes; returns when that happened and what it sent."""
    started, received = time.monotonic(), b""
    sock.settimeout(seconds)
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except ConnectionResetError:
        pass
    return time.monotonic() - started, received


def test_slow_loris_headers_are_cut_off(server: LiveServer) -> None:
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        closed = False
        for _ in range(40):  # one header byte every 0.1 s: never a complete request
            try:
                sock.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            sock.settimeout(0.1)
            try:
                if sock.recv(4096) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
        assert closed, "the server kept a trickling request open"
        assert time.monotonic() - started <= IDLE + SLACK


def test_idle_connection_is_closed(server: LiveServer) -> None:
    with _connect(server) as sock:
        seconds, received = _closed_within(sock, IDLE + SLACK + 3)
        assert received == b"" and seconds <= IDLE + SLACK


def test_slow_body_gets_408(server: LiveServer) -> None:
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /api/mobile/v1/device HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"name\":")
        sock.settimeout(READ + SLACK)
        received = b""
        while b"Request Timeout" not in received:
            received += sock.recv(4096)
        assert time.monotonic() - started <= READ + SLACK
        assert received.startswith(b"HTTP/1.1 408"), received[:200]
        assert b"connection: close" in received.lower()
        seconds, _ = _closed_within(sock, SLACK)  # and the connection ends with it
        assert seconds < SLACK


async def test_answers_before_the_body_leave_no_hung_connection(server: LiveServer) -> None:
    """Found here: a 401 answered before the body was read left the keep-alive connection neither closed nor
    reusable, and the client's next request on it hung (Hypercorn's close was cancelled by quart-trio)."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=3) as http:
        for _ in range(30):
            refused = await http.post("/api/3rdparty/v1/messages",  # no credentials: 401 before the body
                                      json={"textMessage": {"text": "x" * 2000}, "phoneNumbers": ["+79990001122"]})
            assert refused.status_code == 401
            with trio.fail_after(2):
                assert (await http.get("/health/live")).status_code == 200


async def test_others_are_served_and_sse_streams_live_on(server: LiveServer) -> None:
    slow = [_connect(server) for _ in range(20)]  # slow-loris connections holding their slots
    try:
        for sock in slow:
            sock.sendall(b"GET /health/live HTTP/1.1\r\n")
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
            with trio.fail_after(2):
                assert (await http.get("/health/live")).status_code == 200
            device = (await http.post("/api/mobile/v1/device", json={"name": "sse"})).json()
            async with http.stream("GET", "/api/mobile/v1/events",
                                   headers={"Authorization": f"Bearer {device['token']}"}) as stream:
                assert stream.status_code == 200
                keepalives = 0
                with trio.move_on_after(IDLE * 3 + 0.5):
                    async for line in stream.aiter_lines():
                        keepalives += line == ":keepalive"
                assert keepalives >= 2  # alive well past the idle and read timeouts
    finally:
        for sock in slow:
            sock.close()
