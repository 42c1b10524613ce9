"""The traffic driver: messages at a steady rate through the 3rd-party API, as plain JSON or the official client.

Each send is its own task, so a slow answer does not slow the schedule; at most `max_in_flight` sends
are outstanding, beyond which the driver falls behind (counted in `late`). The driver picks the
message id itself, so a phone's report can never arrive for an id the tracker has not seen.
"""

from __future__ import annotations

import itertools
import random
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import trio

from .config import RunConfig
from .fleet import Account
from .tracker import Tracker

LATE_AFTER = 1.0  # seconds behind schedule that make a send count as late


@dataclass
class SendResult:
    status: int | None  # None: no answer (transport error)
    device_id: str | None = None
    error: str | None = None


class Sender(Protocol):
    async def send(self, account: Account, message_id: str, number: str, text: str) -> SendResult: ...


class JsonSender:
    """POST /messages with Basic auth and the JSON body, as curl or any HTTP client would."""

    def __init__(self, client: httpx.AsyncClient, config: RunConfig) -> None:
        self.client = client
        self.url = config.third_party_url + "/messages"

    async def send(self, account: Account, message_id: str, number: str, text: str) -> SendResult:
        body = {"id": message_id, "textMessage": {"text": text}, "phoneNumbers": [number], "withDeliveryReport": True}
        try:
            response = await self.client.post(self.url, json=body, auth=(account.login or "", account.password or ""))
        except httpx.HTTPError as exc:
            return SendResult(None, error=f"{type(exc).__name__}: {exc}")
        if response.status_code == 202:
            return SendResult(202, device_id=response.json().get("deviceId"))
        return SendResult(response.status_code, error=f"{response.status_code} {response.text[:200]}")


class OfficialClientSender:
    """The official Python client (`android-sms-gateway`), one AsyncAPIClient per account on a shared httpx pool."""

    def __init__(self, client: httpx.AsyncClient, config: RunConfig) -> None:
        try:
            from android_sms_gateway import ahttp  # noqa: F401 - probe the optional dependency
        except ImportError as exc:
            raise RuntimeError("--client official needs the official client: pip install "
                               "'android-sms-gateway[httpx]'") from exc
        self.client = client
        self.base_url = config.third_party_url
        self.clients: dict[int, Any] = {}

    def _for(self, account: Account) -> Any:
        if account.index not in self.clients:
            from android_sms_gateway import AsyncAPIClient, ahttp

            http = ahttp.HttpxAsyncHttpClient(self.client)  # type: ignore[attr-defined]
            self.clients[account.index] = AsyncAPIClient(account.login, account.password or "",
                                                         base_url=self.base_url, http_client=http)
        return self.clients[account.index]

    async def send(self, account: Account, message_id: str, number: str, text: str) -> SendResult:
        from android_sms_gateway import Message, TextMessage
        from android_sms_gateway.errors import APIError

        message = Message(phone_numbers=[number], text_message=TextMessage(text=text), id=message_id,
                          with_delivery_report=True)
        try:
            state = await self._for(account).send(message)
        except APIError as exc:
            return SendResult(exc.status_code, error=f"{exc.status_code} {exc}"[:200])
        except httpx.HTTPError as exc:
            return SendResult(None, error=f"{type(exc).__name__}: {exc}")
        return SendResult(202, device_id=state.device_id)


def make_sender(client: httpx.AsyncClient, config: RunConfig) -> Sender:
    return OfficialClientSender(client, config) if config.client == "official" else JsonSender(client, config)


class Driver:
    def __init__(self, config: RunConfig, tracker: Tracker, sender: Sender) -> None:
        self.config = config
        self.tracker = tracker
        self.sender = sender
        self.random = random.Random(config.seed)
        self.run_tag = secrets.token_hex(3)
        self.scheduled = 0
        self.late = 0
        self.skipped = 0  # due while no phone was online (stages): not sent
        self.last_send_at: float | None = None  # wall clock of the last send that left

    def message_id(self, sequence: int) -> str:
        return f"sim{self.config.shard.index}-{self.run_tag}-{sequence}"

    def phone_number(self) -> str:
        return f"+7999{self.random.randrange(10_000_000):07d}"

    def due_offsets(self) -> Iterator[float]:
        """Seconds after the start of traffic at which each send is due (this shard's share)."""
        stages = self.config.shard_rate_stages()
        if stages is not None:
            return stages.due_times()
        rate = self.config.shard_rate
        return (sequence / rate for sequence in itertools.count())

    async def run(self, accounts: list[Account] | Callable[[], list[Account]], stop: trio.Event) -> None:
        """Send for `duration` seconds (or until `stop`), then wait for the sends still in flight.

        `accounts` may be a function: with --stages, the accounts that have a phone online at each send.
        Closed model: at most `max_in_flight` sends are outstanding, so a slow server slows the schedule
        (counted in `late`). Open model: every send leaves on time, however many are outstanding.
        """
        current = accounts if callable(accounts) else (lambda: accounts)
        if not callable(accounts) and not accounts:
            raise RuntimeError("no account has a registered phone: nothing to send to")
        limiter = trio.Semaphore(self.config.max_in_flight) if self.config.model == "closed" else None
        begin = trio.current_time()
        end = begin + self.config.duration
        async with trio.open_nursery() as nursery:
            sequence = 0
            for offset in self.due_offsets():
                due = begin + offset
                if due >= end or stop.is_set():
                    break
                with trio.move_on_at(due):
                    await stop.wait()
                if stop.is_set():
                    break
                if limiter is not None:
                    await limiter.acquire()
                if trio.current_time() - due > LATE_AFTER:
                    self.late += 1
                targets = current()
                if not targets:
                    self.skipped += 1
                    if limiter is not None:
                        limiter.release()
                    continue
                nursery.start_soon(self._send_one, targets[sequence % len(targets)], sequence, limiter)
                sequence += 1
            self.scheduled = sequence

    async def _send_one(self, account: Account, sequence: int, limiter: trio.Semaphore | None) -> None:
        try:
            message_id = self.message_id(sequence)
            record = self.tracker.sending(message_id, account.index)
            self.last_send_at = record.sent_at
            result = await self.sender.send(account, message_id, self.phone_number(), f"smsgate-sim {message_id}")
            self.tracker.sent(record, result.status, result.device_id, result.error)
        finally:
            if limiter is not None:
                limiter.release()
