"""Webhooks fired by the phone (device protocol §3): envelope, signing, the queue and its retries.

Each emitted event fans out to every webhook registered for it (Cloud hooks from GET /webhooks, with
the server's device id; Local hooks from the config, with the 32-hex local id). The body is Gson
text, fixed at emit time; each attempt signs it anew: `X-Signature` = hex HMAC-SHA256(signing key,
body + X-Timestamp), `X-Timestamp` = Unix seconds. One worker sends one item at a time, earliest
`next_attempt` first; any non-2xx or network error retries after 5 s x 2^(n-1) (n = failures so far)
until `retry_count` retries have failed. HTTPS only, except http://127.0.0.1 (or any http on the
"insecure" build): a cleartext URL fails like OkHttp's network-security policy does.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio

from . import gson
from .ids import nanoid
from .ondemand import OnDemand
from .store import LocalMessage

STATE_EVENTS = {"Sent": "sms:sent", "Delivered": "sms:delivered", "Failed": "sms:failed",
                "Cancelled": "sms:cancelled"}
BASE_BACKOFF = 5.0
CONNECT_TIMEOUT = 5.0
SOCKET_TIMEOUT = 5.0
REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Webhook:
    id: str
    url: str
    event: str
    source: str  # "Cloud" | "Local"


@dataclass(order=True)
class Delivery:
    next_attempt: float
    seq: int
    url: str = field(compare=False)
    event: str = field(compare=False)
    body: str = field(compare=False)
    failures: int = field(default=0, compare=False)


@dataclass
class DeliveryResult:
    url: str
    event: str
    attempt: int
    status: int | None  # HTTP status, None for a network error
    error: str | None
    final: bool  # delivered, or given up


@lru_cache(maxsize=16)
def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The system's trust store plus the given CA bundle, as the app trusts system, user and project CAs."""
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def cleartext_refusal(url: str, allow_cleartext: bool) -> str | None:
    parts = urlsplit(url)
    if parts.scheme == "https" or allow_cleartext or parts.hostname == "127.0.0.1":
        return None
    return f"CLEARTEXT communication to {parts.hostname} not permitted by network security policy"


def sign(key: str, body: str, timestamp: str) -> str:
    return hmac.new(key.encode(), (body + timestamp).encode(), hashlib.sha256).hexdigest()


class WebhookQueue:
    def __init__(self, *, signing_key: str, user_agent: str, wall: Callable[[], float],
                 retry_count: Callable[[], int], allow_cleartext: bool = False,
                 on_result: Callable[[DeliveryResult], None] | None = None) -> None:
        self.signing_key = signing_key
        self.user_agent = user_agent
        self.wall = wall
        self.retry_count = retry_count
        self.allow_cleartext = allow_cleartext
        self.on_result = on_result
        self.cloud: list[Webhook] = []
        self.local: list[Webhook] = []
        self.http: httpx.AsyncClient | None = None
        self._queue: list[Delivery] = []
        self._seq = itertools.count()
        self._wake = trio.Event()
        self.task = OnDemand(self.run)  # started at the first delivery: most phones have no webhook

    def hooks_for(self, event: str) -> list[Webhook]:
        return [hook for hook in [*self.local, *self.cloud] if hook.event == event]

    def emit(self, event: str, payload: dict[str, Any], cloud_device_id: str | None, local_device_id: str) -> int:
        """Queue one delivery per webhook registered for `event`; returns how many."""
        count = 0
        for hook in self.hooks_for(event):
            device_id = cloud_device_id if hook.source == "Cloud" else local_device_id
            envelope = {"id": nanoid(), "webhookId": hook.id, "event": event, "deviceId": device_id,
                        "payload": payload}
            heapq.heappush(self._queue, Delivery(trio.current_time(), next(self._seq), hook.url, event,
                                                 gson.dumps(envelope)))
            count += 1
        if count:
            self._wake.set()
            self.task.start()
        return count

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def run(self) -> None:
        while True:
            if not self._queue:
                await self._wait(None)
                continue
            head = self._queue[0]
            if head.next_attempt > trio.current_time():
                await self._wait(head.next_attempt)
                continue
            heapq.heappop(self._queue)
            await self._attempt(head)

    async def _wait(self, deadline: float | None) -> None:
        self._wake = trio.Event()
        if deadline is None:
            await self._wake.wait()
        else:
            with trio.move_on_at(deadline):
                await self._wake.wait()

    async def _attempt(self, item: Delivery) -> None:
        status: int | None = None
        error = cleartext_refusal(item.url, self.allow_cleartext)
        if error is None:
            timestamp = str(int(self.wall()))
            headers = {"Content-Type": "application/json", "User-Agent": self.user_agent,
                       "X-Signature": sign(self.signing_key, item.body, timestamp), "X-Timestamp": timestamp}
            try:
                assert self.http is not None, "the phone sets the webhook client before running the queue"
                timeout = httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT, read=SOCKET_TIMEOUT,
                                        write=SOCKET_TIMEOUT)
                with trio.fail_after(REQUEST_TIMEOUT):
                    response = await self.http.post(item.url, content=item.body.encode(), headers=headers,
                                                    timeout=timeout)
                status = response.status_code
                if not response.is_success:
                    error = f"HTTP {status}"
            except (httpx.HTTPError, OSError, trio.TooSlowError, ssl.SSLError) as exc:
                error = f"{exc.__class__.__name__}: {exc}"
        attempt = item.failures + 1
        if error is None:
            self._report(DeliveryResult(item.url, item.event, attempt, status, None, True))
            return
        item.failures += 1
        give_up = item.failures > self.retry_count()
        self._report(DeliveryResult(item.url, item.event, attempt, status, error, give_up))
        if not give_up:
            item.next_attempt = trio.current_time() + BASE_BACKOFF * 2 ** (item.failures - 1)
            heapq.heappush(self._queue, item)

    def _report(self, result: DeliveryResult) -> None:
        if self.on_result is not None:
            self.on_result(result)


def message_event_payload(event: str, message: LocalMessage, number: str, sender: str | None, now: str,
                          error: str | None) -> dict[str, Any]:
    """An outgoing message's event payload, in Gson's order: the event's own fields, then `messageId`,
    `sender` (this SIM's number), `recipient`, `simNumber`, `phoneNumber` (= recipient, deprecated)."""
    own: dict[str, Any]
    if event == "sms:sent":
        own = {"partsCount": message.parts_count if message.parts_count is not None else -1, "sentAt": now}
    elif event == "sms:delivered":
        own = {"deliveredAt": now}
    elif event == "sms:failed":
        own = {"failedAt": now, "reason": error or "Unknown"}
    else:
        own = {"cancelledAt": now}
    return {**own, "messageId": message.id, "sender": sender, "recipient": number, "simNumber": message.sim_number,
            "phoneNumber": number}


def local_device_id(name: str, first_install_ms: int) -> str:
    """The local-source `deviceId`: Java hashCode of MANUFACTURER/PRODUCT sign-extended to 16 hex digits,
    then firstInstallTime in 16 hex digits."""
    return f"{java_hash(name) & 0xFFFFFFFFFFFFFFFF:016x}{first_install_ms:016x}"


def java_hash(text: str) -> int:
    """Java's String.hashCode (over UTF-16 units), as a signed 32-bit int."""
    value = 0
    units = text.encode("utf-16-be")
    for i in range(0, len(units), 2):
        value = (31 * value + int.from_bytes(units[i:i + 2], "big")) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def ca_path(path: Path | None) -> str | None:
    return str(path) if path else None
