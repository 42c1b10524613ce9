"""Politeness towards the target, for every request the suite makes (scenarios over httpx, schemathesis over
requests): `--max-rps` paces the whole run, and a 429 is waited out (its Retry-After, bounded) and retried.
Each 429 is counted for the check that met it, and is reported as rate limiting, not as the check's failure.
Every request sent is also handed to `repro`, which turns a failing check's request into a curl line."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import requests
import trio
from requests.adapters import HTTPAdapter

from . import repro

MAX_WAIT = 65.0  # the longest single wait: a per-minute limiter's window, plus a margin
MAX_TOTAL_WAIT = 180.0  # per request, over all its retries
FALLBACK_WAITS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0)  # no (usable) Retry-After: back off


@dataclass
class Politeness:
    max_rps: float = 0.0  # 0: unpaced
    limited: int = 0  # 429 answers waited out, this check
    waited: float = 0.0  # seconds spent waiting them out, this check
    missing_retry_after: int = 0  # 429 answers without a usable Retry-After, this check
    _next: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def reset_check(self) -> None:
        self.limited, self.waited, self.missing_retry_after = 0, 0.0, 0

    def delay(self) -> float:
        """How long the next request must wait for the pace (and books its slot)."""
        if self.max_rps <= 0:
            return 0.0
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + 1.0 / self.max_rps
            return slot - now

    def wait_for_429(self, headers: Any, attempt: int, waited_so_far: float) -> float | None:
        """Seconds to wait before retrying a 429; None when the request has waited long enough."""
        wait = retry_after(headers.get("Retry-After"))
        if wait is None:
            self.missing_retry_after += 1
            wait = FALLBACK_WAITS[min(attempt, len(FALLBACK_WAITS) - 1)]
        wait = min(max(wait, 0.05), MAX_WAIT)
        if waited_so_far + wait > MAX_TOTAL_WAIT:
            return None
        self.limited += 1
        self.waited += wait
        return wait


def retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError, IndexError):
        return None


POLITENESS = Politeness()


class PoliteTransport(httpx.AsyncBaseTransport):
    """The scenarios' httpx transport."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        attempt, waited = 0, 0.0
        while True:
            await trio.sleep(POLITENESS.delay())
            repro.sent(request.method, str(request.url), request.headers, _body(request))
            response = await self.inner.handle_async_request(request)
            repro.received(str(request.url), response.status_code, "", response.headers)
            if response.status_code != 429:
                return response
            wait = POLITENESS.wait_for_429(response.headers, attempt, waited)
            if wait is None:
                return response
            await response.aclose()
            await trio.sleep(wait)
            attempt, waited = attempt + 1, waited + wait

    async def aclose(self) -> None:
        await self.inner.aclose()


def _body(request: httpx.Request) -> bytes:
    try:
        return request.content
    except httpx.RequestNotRead:  # a streamed upload: not reproducible as a literal body
        return b""


class PoliteAdapter(HTTPAdapter):
    """schemathesis' requests adapter (its checks' extra requests go through the same session)."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        attempt, waited = 0, 0.0
        while True:
            time.sleep(POLITENESS.delay())
            body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
            repro.sent(str(request.method), str(request.url), request.headers,
                       body if isinstance(body, bytes) else b"")
            response = super().send(request, *args, **kwargs)
            repro.received(str(request.url), response.status_code, str(response.reason or ""), response.headers,
                           None if kwargs.get("stream") else response.text)
            if response.status_code != 429:
                return response
            wait = POLITENESS.wait_for_429(response.headers, attempt, waited)
            if wait is None:
                return response
            response.close()
            time.sleep(wait)
            attempt, waited = attempt + 1, waited + wait


def polite_session() -> requests.Session:
    session = requests.Session()
    adapter = PoliteAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
