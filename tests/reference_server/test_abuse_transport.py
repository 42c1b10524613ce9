"""Hostile HTTP transport, against a real server process: no redirect off-host, `Connection: close` on answers
sent before the body was read, HTTP/2 connections (a real h2 client, prior-knowledge h2c) closed when idle,
stopped mid-headers or stuck on flow control, and memory bounded when many clients ask for big lists and
never read them (the server's RSS from /proc)."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import hpack
import httpx
import pytest
from hyperframe.frame import HeadersFrame
from live_server import LiveServer

pytestmark = pytest.mark.slow

IDLE = 0.5
SLOTS = 2  # http.max_concurrent_requests
GIVE_UP = 20.0  # a connection still open this long after `IDLE` is never closed


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("transport")
    with LiveServer(workdir, env={"DATABASE__URL": f"sqlite:///{workdir / 'smsgate.db'}",
                                  "HTTP__IDLE_TIMEOUT": f"{IDLE}s", "HTTP__OPENAPI__ENABLED": "true",
                                  "HTTP__MAX_CONCURRENT_REQUESTS": str(SLOTS), "HTTP__REQUEST_TIMEOUT": "60s"}) as live:
        yield live


def _connect(server: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _read_until_closed(sock: socket.socket, seconds: float = GIVE_UP) -> tuple[bool, bytes]:
    """Reads (and drops nothing) until the server closes: (closed, what it sent)."""
    received = b""
    sock.settimeout(seconds)
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False, received
    return True, received


def _head(raw: bytes) -> tuple[str, dict[str, str]]:
    lines = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    return lines[0], {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}


@pytest.mark.parametrize(("path", "location"), [
    ("//health//live", "/health/live"),
    ("//api//3rdparty/v1/messages?limit=1", "/api/3rdparty/v1/messages?limit=1"),
    ("/api/3rdparty/v1//messages", "/api/3rdparty/v1/messages"),
])
def test_slash_redirects_stay_on_this_host(server: LiveServer, path: str, location: str) -> None:
    """Found: werkzeug's merge-slashes redirect answered 308 to http://<Host header>/..., an open redirect."""
    with _connect(server) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".encode())
        _, raw = _read_until_closed(sock)
    status, headers = _head(raw)
    assert status.startswith("HTTP/1.1 308"), raw[:300]
    assert headers["location"] == location


def test_answer_before_the_body_says_connection_close(server: LiveServer) -> None:
    """Found: a 401 sent before the body was read came without `Connection: close`, though the connection
    ends with it (Hypercorn cannot read on to the next request)."""
    with _connect(server) as sock:
        sock.sendall(b"POST /api/3rdparty/v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n" + b"{" + b" " * 999)
        closed, raw = _read_until_closed(sock)
    status, headers = _head(raw)
    assert status.startswith("HTTP/1.1 401"), raw[:300]
    assert headers.get("connection") == "close"
    assert closed


def test_requests_with_their_body_keep_the_connection(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        first = http.post("/api/mobile/v1/device", json={"name": "keep"})
        assert first.status_code == 201 and "connection" not in first.headers
        assert http.get("/health/live").status_code == 200  # on the same connection


def _response(sock: socket.socket, with_body: bool = True) -> tuple[str, dict[str, str], bytes, int]:
    """One HTTP/1.1 response read by its Content-Length: status line, headers, body, and the reads it took."""
    raw, reads = b"", 0
    while b"\r\n\r\n" not in raw or len(raw.split(b"\r\n\r\n", 1)[1]) < (
            int(_head(raw)[1].get("content-length", 0)) if with_body else 0):
        chunk = sock.recv(65536)
        assert chunk, raw
        raw, reads = raw + chunk, reads + 1
    status, headers = _head(raw)
    return status, headers, raw.split(b"\r\n\r\n", 1)[1], reads


def test_answers_with_a_length_leave_in_one_write_on_a_kept_connection(server: LiveServer) -> None:
    """`CoalescingH11Protocol`: the head waits for the body (one socket write, so one read here); HEAD, a 401 and
    keep-alive work as before, and an event stream's head leaves at once, before any event."""
    with _connect(server) as sock:
        for method, expected, with_body in (("GET", "200", True), ("HEAD", "200", False), ("GET", "200", True)):
            sock.sendall(f"{method} /health/live HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            status, headers, body, reads = _response(sock, with_body)
            assert status.startswith(f"HTTP/1.1 {expected}") and int(headers["content-length"]) > 0
            assert (len(body), reads) == ((int(headers["content-length"]), 1) if with_body else (0, 1))
        sock.sendall(b"GET /api/3rdparty/v1/messages HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body, _ = _response(sock)
        assert status.startswith("HTTP/1.1 401") and b"message" in body
        token = httpx.post(server.base_url + "/api/mobile/v1/device", json={"name": "one-write"}).json()["token"]
        sock.sendall(f"GET /api/mobile/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
                     .encode())
        sock.settimeout(5)
        status, headers, _, _ = _response(sock, with_body=False)
        assert status.startswith("HTTP/1.1 200") and headers["content-type"].startswith("text/event-stream")


def _h2(server: LiveServer) -> tuple[socket.socket, h2.connection.H2Connection]:
    """A prior-knowledge HTTP/2 connection: preface and SETTINGS sent."""
    sock = _connect(server)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return sock, conn


def test_http2_is_served(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url, http1=False, http2=True, timeout=10) as http:
        response = http.get("/health/live")
    assert response.status_code == 200 and response.http_version == "HTTP/2"


def test_idle_http2_connection_is_closed(server: LiveServer) -> None:
    """Found: an HTTP/2 connection that sent its preface and nothing else was never closed."""
    sock, _ = _h2(server)
    with sock:
        closed, _ = _read_until_closed(sock)
    assert closed


def test_http2_headers_stopped_midway_are_closed(server: LiveServer) -> None:
    """Found: HEADERS without END_HEADERS (the CONTINUATION never comes) held the connection forever."""
    sock, _ = _h2(server)
    with sock:
        block = hpack.Encoder().encode([(":method", "GET"), (":scheme", "http"), (":authority", "x"),
                                        (":path", "/health/live")])
        frame = HeadersFrame(1, data=block[:4], flags=["END_STREAM"])  # no END_HEADERS
        sock.sendall(frame.serialize())
        closed, _ = _read_until_closed(sock)
    assert closed


def test_http2_stream_stuck_on_flow_control_is_closed(server: LiveServer) -> None:
    """A client that reads the socket but never opens its flow-control window: the response (an asset bigger
    than the initial 64 KiB window) can never finish; the connection is closed and its memory freed."""
    sock, conn = _h2(server)
    with sock:
        conn.send_headers(1, [(":method", "GET"), (":scheme", "http"), (":authority", "x"),
                              (":path", "/api/docs/swagger-ui-bundle.js")], end_stream=True)
        sock.sendall(conn.data_to_send())
        closed, received = _read_until_closed(sock)  # reads, but sends no WINDOW_UPDATE
    assert len(received) > 60_000  # the first window's worth arrived: the response had started
    assert closed


def _h2_events_until_stream_ends(sock: socket.socket, conn: h2.connection.H2Connection,
                                 stream_id: int) -> list[h2.events.Event]:
    events: list[h2.events.Event] = []
    sock.settimeout(GIVE_UP)
    while not any(isinstance(e, h2.events.StreamEnded) and e.stream_id == stream_id for e in events):
        data = sock.recv(65536)
        assert data, f"the connection closed before stream {stream_id} ended"
        events += conn.receive_data(data)
        sock.sendall(conn.data_to_send())
    return events


def _h2_status(events: list[h2.events.Event], stream_id: int) -> bytes:
    return next(dict(e.headers)[b":status"] for e in events
                if isinstance(e, h2.events.ResponseReceived) and e.stream_id == stream_id)


def test_http2_body_after_an_early_answer_ends_neither_connection_nor_server(server: LiveServer) -> None:
    """Found here: DATA for a stream already answered (401 before the body) raised KeyError in Hypercorn's
    HTTP/2 protocol, and that ended the whole server process."""
    sock, conn = _h2(server)
    with sock:
        conn.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":authority", "x"),
                              (":path", "/api/3rdparty/v1/messages"), ("content-type", "application/json")])
        sock.sendall(conn.data_to_send())
        assert _h2_status(_h2_events_until_stream_ends(sock, conn, 1), 1) == b"401"
        conn.send_data(1, b"{" + b" " * 999)  # the body nobody reads any more
        conn.send_headers(3, [(":method", "GET"), (":scheme", "http"), (":authority", "x"),
                              (":path", "/health/live")], end_stream=True)
        sock.sendall(conn.data_to_send())
        assert _h2_status(_h2_events_until_stream_ends(sock, conn, 3), 3) == b"200"


def test_event_streams_do_not_hold_request_slots(server: LiveServer) -> None:
    """`http.max_concurrent_requests` (`SLOTS` here) counts an event stream only until its headers are out."""
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        tokens = [http.post("/api/mobile/v1/device", json={"name": f"sse{i}"}).json()["token"] for i in range(3)]
        streams = [http.stream("GET", "/api/mobile/v1/events", headers={"Authorization": f"Bearer {token}"})
                   for token in tokens]
        opened = [stream.__enter__() for stream in streams]
        try:
            assert [response.status_code for response in opened] == [200, 200, 200]
            assert http.get("/health/live").status_code == 200
        finally:
            for stream in streams:
                stream.__exit__(None, None, None)


def test_uploads_still_arriving_hold_no_request_slot(server: LiveServer) -> None:
    """Bodies trickling in are bounded by `http.read_timeout` (408); they must not hold the slots meanwhile."""
    uploads = [_connect(server) for _ in range(3)]
    try:
        for sock in uploads:
            sock.sendall(b"POST /api/mobile/v1/device HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{")
        with httpx.Client(base_url=server.base_url, timeout=5) as http:
            assert http.get("/health/live").status_code == 200
    finally:
        for sock in uploads:
            sock.close()


# --- memory -------------------------------------------------------------------------------------------
STALLED_CLIENTS = 12
RSS_GROWTH_BOUND_MB = 250  # each stalled response holds ~35 MB: 12 of them held at once would be ~420 MB


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _seed_big_list(http: httpx.Client) -> str:
    """One account with 100 messages whose text JSON-escapes to ~390 KB each: a 40 MB list."""
    device = http.post("/api/mobile/v1/device", json={"name": "big"}).json()
    auth = (device["login"], device["password"])
    for _ in range(100):
        sent = http.post("/api/3rdparty/v1/messages", auth=auth,
                         json={"textMessage": {"text": "\u0001" * 65535}, "phoneNumbers": ["+79990001122"]})
        assert sent.status_code == 202, sent.text
    return base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()


def test_memory_stays_bounded_when_clients_do_not_read(server: LiveServer) -> None:
    """Found: clients asking for big lists and reading nothing grew the process without bound (246 -> 821 MB).
    Now at most `http.max_concurrent_requests` responses are held at once, and a response the client reads
    nothing of for `http.idle_timeout` is dropped with its connection."""
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        credentials = _seed_big_list(http)
        assert server.process is not None
        pid = server.process.pid
        baseline = _rss_mb(pid)
        stalled = []
        for _ in range(STALLED_CLIENTS):
            sock = _connect(server)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(f"GET /api/3rdparty/v1/messages?limit=100&includeContent=true HTTP/1.1\r\nHost: x\r\n"
                         f"Authorization: Basic {credentials}\r\n\r\n".encode())
            stalled.append(sock)
        try:
            peak, answered = baseline, set[int]()
            deadline = time.monotonic() + 120  # only reached when the server hangs
            while len(answered) < STALLED_CLIENTS and time.monotonic() < deadline:
                peak = max(peak, _rss_mb(pid))
                for number, sock in enumerate(stalled):  # a peek at the status line: the response was built
                    sock.settimeout(0.05)
                    try:
                        sock.recv(16, socket.MSG_PEEK)  # returns once something (or the end) came
                        answered.add(number)
                    except TimeoutError:
                        pass
                    except ConnectionResetError:
                        answered.add(number)
            assert len(answered) == STALLED_CLIENTS, f"only {len(answered)} answered"
            assert http.get("/health/live").status_code == 200
        finally:
            for sock in stalled:
                sock.close()
        print(f"RSS baseline {baseline:.0f} MB, peak {peak:.0f} MB with {STALLED_CLIENTS} stalled clients")
        assert peak - baseline < RSS_GROWTH_BOUND_MB
