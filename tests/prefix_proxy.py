"""A reverse proxy that moves the reference server's APIs to other prefixes, as a gateway in front of a
server we did not write might: by default the mobile API at /mobile-gw/v1 and the 3rd-party API at
/gw/3rdparty/v1. Nothing else is forwarded (the server's own paths answer 404), so a tool that ignores
its --mobile-url / --thirdparty-url options fails against it.

    with running_proxy(server.base_url) as proxy:          # a thread of its own: for sync tests, subprocesses
        run(["smsgate-sim", "run", "--mobile-url", proxy.mobile_url, "--thirdparty-url", proxy.thirdparty_url])

    async with served_proxy(server.base_url) as proxy:      # in this Trio run
        ...

Responses stream chunk by chunk (SSE included); the request body is read whole first. Location and Link
headers are rewritten to the public prefixes.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

MOBILE_PREFIX = "/mobile-gw/v1"
THIRDPARTY_PREFIX = "/gw/3rdparty/v1"
UPSTREAM_MOBILE = "/api/mobile/v1"
UPSTREAM_THIRDPARTY = "/api/3rdparty/v1"
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host"})
REWRITTEN = frozenset({b"location", b"link", b"content-location"})

Scope = dict[str, Any]


class PrefixProxy:
    """ASGI app: `routes` maps a public path prefix to the upstream's; the longest matching prefix wins."""

    def __init__(self, upstream: str, routes: dict[str, str] | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.routes = routes or {MOBILE_PREFIX: UPSTREAM_MOBILE, THIRDPARTY_PREFIX: UPSTREAM_THIRDPARTY}
        self.order = sorted(self.routes.items(), key=lambda item: -len(item[0]))
        self.client: httpx.AsyncClient | None = None
        self.requests = 0  # forwarded
        self.refused = 0  # answered 404 by the proxy itself

    def target(self, path: str) -> str | None:
        for public, private in self.order:
            if path == public or path.startswith(public.rstrip("/") + "/"):
                return private + path[len(public):]
        return None

    def _rewrite(self, value: str) -> str:
        for public, private in self.order:
            value = value.replace(self.upstream + private, public).replace(private, public)
        return value

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":  # startup: nothing to prepare
                await send({"type": "lifespan.startup.complete"})
            if self.client is not None:
                await self.client.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        # The raw path: a percent-encoded control character must reach the upstream still encoded.
        raw = scope.get("raw_path") or scope["path"].encode()
        path = self.target(raw.decode("latin-1"))
        if path is None:
            self.refused += 1
            body = b'{"message":"not found (prefix proxy: no route for this path)"}'
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
            await send({"type": "http.response.body", "body": body})
            return
        self.requests += 1
        await self._forward(scope, receive, send, path)

    async def _forward(self, scope: Scope, receive: Any, send: Any, path: str) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if self.client is None:  # made in the serving loop: one pool for every request
            self.client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, read=None), follow_redirects=False)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
                   if k.decode("latin-1").lower() not in HOP_BY_HOP]
        query = scope.get("query_string", b"").decode("latin-1")
        url = self.upstream + path + (f"?{query}" if query else "")
        request = self.client.build_request(scope["method"], url, headers=headers, content=bytes(body))
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            detail = f'{{"message":"prefix proxy: upstream unreachable: {type(exc).__name__}"}}'.encode()
            await send({"type": "http.response.start", "status": 502,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": detail})
            return
        try:
            out = [(k, self._rewrite(v.decode("latin-1")).encode("latin-1") if k.lower() in REWRITTEN else v)
                   for k, v in response.headers.raw if k.decode("latin-1").lower() not in HOP_BY_HOP]
            await send({"type": "http.response.start", "status": response.status_code, "headers": out})
            async with trio.open_nursery() as nursery:
                # The client going away (an SSE reader closing) ends the upstream stream too.
                async def watch() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    nursery.cancel_scope.cancel()

                nursery.start_soon(watch)
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
                nursery.cancel_scope.cancel()
        except (httpx.HTTPError, OSError, trio.BrokenResourceError):
            pass  # upstream or client gone mid-stream: nothing more to say
        finally:
            await response.aclose()


@dataclass
class RunningProxy:
    app: PrefixProxy
    base_url: str

    @property
    def mobile_url(self) -> str:
        return self.url_of(UPSTREAM_MOBILE)

    @property
    def thirdparty_url(self) -> str:
        return self.url_of(UPSTREAM_THIRDPARTY)

    def url_of(self, upstream_prefix: str) -> str:
        """The public URL of an upstream prefix."""
        public = next(p for p, u in self.app.routes.items() if u == upstream_prefix)
        return self.base_url + public


def _config() -> HypercornConfig:
    config = HypercornConfig()
    config.bind = ["127.0.0.1:0"]
    config.graceful_timeout = 2
    config.accesslog = None
    config.loglevel = "WARNING"
    config.keep_alive_timeout = 30
    return config


@asynccontextmanager
async def served_proxy(upstream: str, routes: dict[str, str] | None = None) -> AsyncIterator[RunningProxy]:
    """The proxy under Hypercorn in the current Trio run, on a free loopback port, for the block."""
    app = PrefixProxy(upstream, routes)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, _config(), shutdown_trigger=stop.wait))  # type: ignore
        try:
            yield RunningProxy(app, binds[0])
        finally:
            stop.set()


@contextmanager
def running_proxy(upstream: str, routes: dict[str, str] | None = None) -> Iterator[RunningProxy]:
    """The proxy in a thread with its own Trio loop, for the block (sync tests, tools run as subprocesses)."""
    ready: list[RunningProxy] = []
    failed: list[BaseException] = []
    started = threading.Event()
    stop_token: list[trio.lowlevel.TrioToken] = []
    stopping: list[trio.Event] = []

    async def main() -> None:
        stop = trio.Event()
        stopping.append(stop)
        stop_token.append(trio.lowlevel.current_trio_token())
        async with served_proxy(upstream, routes) as proxy:
            ready.append(proxy)
            started.set()
            await stop.wait()

    def thread() -> None:
        try:
            trio.run(main)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            failed.append(exc)
        finally:
            started.set()

    worker = threading.Thread(target=thread, name="prefix-proxy", daemon=True)
    worker.start()
    started.wait(30)
    if not ready:
        raise RuntimeError(f"the prefix proxy did not start: {failed[0]!r}" if failed else "the proxy did not start")
    try:
        yield ready[0]
    finally:
        trio.from_thread.run_sync(stopping[0].set, trio_token=stop_token[0])
        worker.join(10)
