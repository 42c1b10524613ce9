"""HTTP transport guards: what Hypercorn and Quart leave open to hostile clients.

- `GuardedTCPServer` (Hypercorn's per-connection server, installed by `use_guarded_connections`): a connection
  whose response makes no progress for `http.idle_timeout` (the client reads nothing, or an HTTP/2 client
  keeps its flow-control window shut), or an HTTP/2 connection without a request in progress for as long
  (idle, or stopped in the middle of its headers), is closed; the memory its response held is freed.
- `guard_requests` (ASGI middleware): at most `http.max_concurrent_requests` requests are handled at once
  (others wait for a slot, then 503), so the memory held by responses is bounded however many clients ask
  for big lists and never read them; an answer sent before the request body was read says
  `Connection: close`, since the connection ends with it; every answer carries `X-Request-ID`; the last
  message of a response is sent even when the request is being cancelled.
- `same_host_redirect` (before-request hook): werkzeug's slash redirects (`//health//live`) point to the
  path only, never to a URL built from the client's Host header.
"""

from __future__ import annotations

import json
import logging
from itertools import chain
from typing import Any
from urllib.parse import urlsplit

import h2.errors
import h2.events
import h2.exceptions
import h11
import hypercorn.protocol
import hypercorn.trio.run
import trio
from hypercorn.events import Closed, Event, RawData
from hypercorn.protocol import events as stream  # its Response is not quart's
from hypercorn.protocol.h2 import H2Protocol
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.trio.tcp_server import TCPServer
from quart import Response, request
from werkzeug.routing import RequestRedirect

from .api.request_id import HEADER as ID_HEADER
from .api.request_id import request_id_of
from .api.responses import error_response

log = logging.getLogger(__name__)

WRITE_CHUNK = 64 * 1024  # a write counts as progressing when a chunk of this size got into the socket


class GuardedTCPServer(TCPServer):
    """Hypercorn's connection, with a watchdog that closes it when it is stuck for a whole `keep_alive_timeout`.

    Hypercorn closes an idle HTTP/1.1 connection itself, but not a stalled write (its socket writes are shielded
    and have no deadline), not a stream stuck on HTTP/2 flow control, and not an HTTP/2 connection that never
    had a request (its idle timer stops at the connection preface and only restarts when a stream ends).
    The watchdog looks every `keep_alive_timeout`: stuck at two looks in a row, with no byte written and no
    request started in between, closes the connection.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._written = 0  # bytes handed to the socket so far
        self._writing = False  # a write is waiting for the socket to accept bytes

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch)
                await super().run()
                nursery.cancel_scope.cancel()
        except Exception:  # Hypercorn lets a protocol error escape to the server's nursery: it would end the server
            log.exception("a connection ended by an error in its protocol handling")

    async def protocol_send(self, event: Event) -> None:
        if not isinstance(event, RawData):
            return await super().protocol_send(event)
        async with self.send_lock:
            try:
                with trio.CancelScope(shield=True):
                    self._writing = True
                    data = memoryview(event.data)
                    for start in range(0, len(data), WRITE_CHUNK):
                        await self.stream.send_all(data[start:start + WRITE_CHUNK])
                        self._written += min(WRITE_CHUNK, len(data) - start)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await self.protocol.handle(Closed())
            finally:
                self._writing = False

    def _progress(self) -> tuple[int, int]:
        return self._written, getattr(self.protocol.protocol, "keep_alive_requests", 0)

    def _stuck(self) -> bool:
        if self._writing:
            return True
        protocol = self.protocol.protocol
        if isinstance(protocol, H2Protocol):
            # No stream: idle or headers never completed. Or a response waiting on a shut flow-control window.
            return not protocol.streams or any(buffer.buffer for buffer in protocol.stream_buffers.values())
        return False

    async def _watch(self) -> None:
        period = self.config.keep_alive_timeout
        seen: tuple[int, int] | None = None
        while True:
            await trio.sleep(period)
            if not hasattr(self, "protocol"):
                continue  # still starting
            progress = self._progress()
            if progress == seen and self._stuck():
                await self._abort()
                return
            seen = progress if self._stuck() else None

    async def _abort(self) -> None:
        with trio.CancelScope(shield=True):
            await self.stream.aclose()  # a write blocked on the socket fails now
            await self.protocol.handle(Closed())
            protocol = self.protocol.protocol
            if isinstance(protocol, H2Protocol):
                for buffer in list(protocol.stream_buffers.values()):
                    await buffer.close()  # the app's sends waiting on flow control return


class GuardedH2Protocol(H2Protocol):
    """Hypercorn's HTTP/2 protocol, taking DATA for a stream it already answered (401 or 413 before the body).

    Hypercorn looked the stream up and failed with KeyError, which ended the whole server (one request without
    credentials and a body over 64 KiB did it). Here the data is taken off the flow-control window and the stream
    reset with NO_ERROR: the client stops sending and reads the response it already has (RFC 9113 8.1)."""

    async def _handle_events(self, events: list[h2.events.Event]) -> None:
        for event in events:  # one by one: a stream may end while an earlier event is handled
            if isinstance(event, h2.events.DataReceived) and event.stream_id not in self.streams:
                try:
                    self.connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    self.connection.reset_stream(event.stream_id, h2.errors.ErrorCodes.NO_ERROR)
                except h2.exceptions.ProtocolError:
                    pass  # reset already
                await self._flush()
            else:
                await super()._handle_events([event])


class CoalescingH11Protocol(H11Protocol):
    """Hypercorn's HTTP/1.1 protocol, writing a response's head together with its body when the body has a length.

    Hypercorn writes the head and the body in two socket writes; on loopback each write is a system call that runs
    the receiver's TCP stack too, and under the accept bench the head's write alone was 8 % of the server's samples
    (py-spy; docs/benchmarks.md). A head with `content-length` is held until the first body chunk (or the end of
    the response) and goes out with it; a streamed response (event streams: no length) gets its head at once, as
    its client waits for it."""

    _head: bytes | None = None

    async def stream_send(self, event: stream.Event) -> None:
        if isinstance(event, stream.Response) and event.status_code >= 200 and self._head is None and any(
                name.lower() == b"content-length" for name, _ in event.headers):
            headers = list(chain(event.headers, self.config.response_headers("h11")))
            if self.keep_alive_requests >= self.config.keep_alive_max_requests:
                headers.append((b"connection", b"close"))
            head = self._h11_bytes(h11.Response(headers=headers, status_code=event.status_code))
            if head is not None:
                self._head = head
            return
        head, self._head = self._head, None
        if head is not None and isinstance(event, (stream.Body, stream.EndBody)):
            data = self._h11_bytes(h11.Data(data=event.data) if isinstance(event, stream.Body) else h11.EndOfMessage())
            await self.send(RawData(data=head + (data or b"")))
            return
        if head is not None:  # anything else: the head first, as Hypercorn would have sent it
            await self.send(RawData(data=head))
        await super().stream_send(event)

    def _h11_bytes(self, event: Any) -> bytes | None:
        """What `_send_h11_event` would write (None where it writes nothing)."""
        try:
            return self.connection.send(event)  # type: ignore[no-any-return]
        except h11.LocalProtocolError:
            if self.connection.their_state != h11.ERROR:
                raise
            return None


def use_guarded_connections() -> None:
    """Make Hypercorn's trio worker serve each connection with `GuardedTCPServer`, `GuardedH2Protocol` and
    `CoalescingH11Protocol`.

    Hypercorn takes neither class as a setting; its worker and protocol switch look them up in their modules when
    a connection starts, so this must run before serving (in each worker process: `asgi.py` calls it too)."""
    hypercorn.trio.run.TCPServer = GuardedTCPServer  # type: ignore[misc, assignment]
    hypercorn.protocol.H2Protocol = GuardedH2Protocol  # type: ignore[misc]
    hypercorn.protocol.H11Protocol = CoalescingH11Protocol  # type: ignore[misc]


def _request_has_body(scope: Any) -> bool:
    return any(name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0")
               for name, value in scope["headers"])


def guard_requests(asgi_app: Any, max_concurrent: int, slot_wait: float) -> Any:
    """The app's HTTP edge, one ASGI wrapper for three jobs (each was a wrapper of its own, and every response
    message went through three more coroutines; the accept bench's profile showed them):

    - At most `max_concurrent` HTTP requests in the app at once; a request waits up to `slot_wait` seconds for
      a slot, then gets 503. A request with a body takes its slot once the body is in, so that slow uploads
      (already bounded by `http.read_timeout`) hold none. An event stream gives its slot back once its headers
      are out (it holds little memory and lasts for hours). A response that starts before the request body was
      read says `Connection: close`.
    - Every answer carries the request's `X-Request-ID` (`api.request_id`), the 503 of a busy server included.
    - The last message of each response finishes even when the request is being cancelled. Answering before
      the body was read (401 before parsing, 408, 413) ends the request in Hypercorn by closing the connection
      from inside that last `send`, while quart-trio cancels the request's tasks as soon as the disconnect
      shows; the close was cancelled half-way and the socket stayed open, holding a keep-alive client that
      reused it (its next request hung) or a slow client as long as it liked. Socket writes are bounded
      already (`GuardedTCPServer`); this shields the close after them.
    """
    slots = trio.Semaphore(max_concurrent)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            return await asgi_app(scope, receive, send)
        request_id = request_id_of(scope).encode("ascii")
        http1 = scope.get("http_version") in ("1.0", "1.1")
        body_unread = _request_has_body(scope)
        holding = refused = False

        async def take_slot() -> bool:
            nonlocal holding
            with trio.move_on_after(slot_wait):
                await slots.acquire()
                holding = True
            return holding

        async def receive_body() -> Any:
            nonlocal body_unread, refused
            message = await receive()
            if message.get("type") == "http.request" and not message.get("more_body", False) and body_unread:
                body_unread = False
                if not holding and not await take_slot():
                    await _busy(send_response)
                    refused = True
                    return {"type": "http.disconnect"}  # the app gives up; its answer would go nowhere
            return message

        async def send_response(message: Any) -> None:
            nonlocal holding
            if refused:
                return
            kind = message.get("type")
            if kind == "http.response.start":
                headers = [(name, value) for name, value in message.get("headers", ()) if name.lower() != ID_HEADER]
                headers.append((ID_HEADER, request_id))
                if http1 and body_unread and not any(name.lower() == b"connection" for name, _ in headers):
                    headers.append((b"connection", b"close"))  # Hypercorn closes: the body is never read
                if holding and any(name.lower() == b"content-type" and value.startswith(b"text/event-stream")
                                   for name, value in headers):
                    holding = False
                    slots.release()
                await send({**message, "headers": headers})
            elif kind == "http.response.body" and not message.get("more_body", False):
                with trio.CancelScope(shield=True):
                    await send(message)
            else:
                await send(message)

        if not body_unread and not await take_slot():
            return await _busy(send_response)
        try:
            await asgi_app(scope, receive_body, send_response)
        finally:
            if holding:
                slots.release()

    return app


async def _busy(send: Any) -> None:
    body = json.dumps({"message": "server busy, try again later"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)),
               (b"retry-after", b"1")]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def same_host_redirect() -> Response | None:
    """Before-request hook: werkzeug's routing redirect (merged slashes) as a path on this host.

    Werkzeug builds an absolute URL from the request's Host header; `//evil.example//x` style requests
    would then send clients elsewhere. The path starts with exactly one slash (`//x` would be a host)."""
    redirect = request.routing_exception
    if not isinstance(redirect, RequestRedirect):
        return None
    target = urlsplit(redirect.new_url)
    location = "/" + target.path.lstrip("/\\")
    if target.query:
        location += "?" + target.query
    return error_response(redirect.code, "moved", {"Location": location})
