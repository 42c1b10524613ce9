"""Inbound traffic (`--inbound-rate`): phones receive SMS at a rate and fire `sms:received` webhooks.

The simulator registers one `sms:received` webhook per account through the 3rd-party API. By default
it points at a receiver the simulator serves itself, over HTTPS (SMSGate accepts only https://
webhooks) with a throw-away CA the phones trust; the receiver matches each webhook to the SMS it
came from by the id in the text and measures receive -> webhook latency. With `--webhook-url` the
webhooks go to the user's own receiver and only the phones' side is counted (answered with 2xx).
"""

from __future__ import annotations

import itertools
import json
import logging
import ssl
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from ..report.stats import summary
from ..tiny_asgi import read_body, serve_lifespan
from .tls import make_ca_and_leaf

log = logging.getLogger(__name__)
EVENT = "sms:received"
TEXT_PREFIX = "smsgate-sim inbound "


class InboundTracker:
    """Each SMS a phone received (by id) and when its webhook arrived."""

    def __init__(self) -> None:
        self.received: dict[str, float] = {}
        self.delivered: dict[str, float] = {}
        self.duplicates = 0  # webhooks for an SMS already delivered (the phone retried, or sent it twice)
        self.foreign = 0  # webhooks that were not for one of this run's SMS
        self.acknowledged = 0  # the phones' view: sms:received deliveries answered 2xx
        self.failed_attempts = 0  # the phones' view: attempts that failed (they retry)

    def webhook_result(self, event: str, status: int | None) -> None:
        if event != EVENT:
            return
        if status is not None and 200 <= status < 300:
            self.acknowledged += 1
        else:
            self.failed_attempts += 1

    def arrived(self, body: bytes, at: float) -> None:
        try:
            text = str(json.loads(body)["payload"]["message"])
        except (ValueError, KeyError, TypeError):
            self.foreign += 1
            return
        sms_id = text.removeprefix(TEXT_PREFIX)
        if not text.startswith(TEXT_PREFIX) or sms_id not in self.received:
            self.foreign += 1
        elif sms_id in self.delivered:
            self.duplicates += 1
        else:
            self.delivered[sms_id] = at

    def missing(self) -> int:
        return len(self.received) - len(self.delivered)

    def section(self, rate: float, own_receiver: bool) -> dict[str, Any]:
        samples = [round((self.delivered[i] - at) * 1000) if i in self.delivered else None
                   for i, at in self.received.items()]
        return {"rate": rate, "receiver": "simulator" if own_receiver else "user", "received": len(self.received),
                "delivered": len(self.delivered), "lost": self.missing() if own_receiver else 0,
                "duplicates": self.duplicates, "foreign": self.foreign, "acknowledged": self.acknowledged,
                "failed_attempts": self.failed_attempts,
                "latency_ms": summary([s for s in samples if s is not None]), "samples": samples}


class Receiver:
    """An HTTPS endpoint that takes every POST as a webhook."""

    def __init__(self, tracker: InboundTracker) -> None:
        self.tracker = tracker
        self.url = ""
        self.ca_path: Path | None = None

    async def serve(self, host: str = "127.0.0.1", port: int = 0, *,
                    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with tempfile.TemporaryDirectory(prefix="smsgate-sim-") as directory:
            self.ca_path, cert, key = make_ca_and_leaf(Path(directory))
            config = HypercornConfig()
            config.bind = [f"{host}:{port}"]
            config.certfile, config.keyfile = str(cert), str(key)
            config.accesslog = None
            config.errorlog = log
            config.graceful_timeout = 1
            async with trio.open_nursery() as nursery:
                binds = await nursery.start(partial(hypercorn_serve, self._asgi, config, mode="asgi"))  # type: ignore
                self.url = f"https://{host}:{int(str(binds[0]).rsplit(':', 1)[1])}/webhook"
                task_status.started()

    def client(self) -> httpx.AsyncClient:
        """The phones' webhook client, trusting the receiver's CA (one for the fleet, not one per phone)."""
        context = ssl.create_default_context(cafile=str(self.ca_path))
        return httpx.AsyncClient(verify=context, timeout=30)

    async def _asgi(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        if scope["method"] == "POST":
            self.tracker.arrived(body, time.time())
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


async def register_webhooks(api: httpx.AsyncClient, third_party_url: str, accounts: list[Any], url: str) -> list[str]:
    """One `sms:received` webhook per account; the errors, if any."""
    errors = []
    for account in accounts:
        try:
            response = await api.post(third_party_url + "/webhooks", json={"url": url, "event": EVENT},
                                      auth=(account.login or "", account.password or ""))
        except httpx.HTTPError as exc:
            errors.append(f"account {account.index}: {exc!r}")
            continue
        if response.status_code >= 300:
            errors.append(f"account {account.index}: {response.status_code} {response.text[:200]}")
    return errors


async def hooks_ready(phones: Callable[[], list[Any]], patience: float = 15.0) -> None:
    """Until every running phone knows its account's webhook (they fetch it on the WebhooksUpdated push)."""
    with trio.move_on_after(patience):
        # polling the phones' state: nothing to wait on
        while not all(phone.webhooks.hooks_for(EVENT) for phone in phones() if hasattr(phone, "webhooks")):  # noqa: ASYNC110
            await trio.sleep(0.2)


async def generate(tracker: InboundTracker, rate: float, duration: float, phones: Callable[[], list[Any]],
                   tag: str, stop: trio.Event) -> None:
    """SMS arriving at `rate` per second over the running phones, round robin, for `duration` seconds."""
    begin = trio.current_time()
    for sequence in itertools.count():
        due = begin + sequence / rate
        if due >= begin + duration:
            return
        with trio.move_on_at(due):
            await stop.wait()
        if stop.is_set():
            return
        running = [phone for phone in phones() if hasattr(phone, "receive_sms_now")]
        if not running:
            continue
        sms_id = f"{tag}-{sequence}"
        tracker.received[sms_id] = time.time()
        running[sequence % len(running)].receive_sms_now(f"+1555{sequence % 10_000_000:07d}", TEXT_PREFIX + sms_id)


async def drain(tracker: InboundTracker, grace: float, stop: trio.Event) -> None:
    with trio.move_on_after(grace):
        while tracker.missing() and not stop.is_set():  # noqa: ASYNC110 - polling the receiver's count
            await trio.sleep(0.2)
