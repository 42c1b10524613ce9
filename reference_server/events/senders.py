"""Push senders: deliver one batch of push items, reporting success or failure per item.

A sender never raises for a delivery problem; it returns an exception for each item that failed
(`None` for each that went through), so that the push queue can retry and blacklist per item.
`FcmSender` (firebase-admin) lives in `fcm.py`; the relay and the doubles are here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from .notifier import DeviceEvent

log = logging.getLogger(__name__)


@dataclass
class PushItem:
    token: str
    event: DeviceEvent
    retries: int = 0  # failed attempts so far


Results = list[Exception | None]


class PushSender(Protocol):
    async def send(self, items: Sequence[PushItem]) -> Results: ...

    async def aclose(self) -> None: ...


class PushFailed(Exception):
    """A push that could not be delivered; the message says why."""


class UpstreamSender:
    """Private mode: POST the batch as a JSON array to `{gateway.upstream_url}/push`; status >= 400 fails it all."""

    def __init__(self, base_url: str, timeout: float, user_agent: str,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = f"{base_url.rstrip('/')}/push"
        self.timeout = timeout
        self.user_agent = user_agent
        self.transport = transport

    async def send(self, items: Sequence[PushItem]) -> Results:
        payload = [{"token": item.token, "event": item.event.type, "data": item.event.data} for item in items]
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as client:
                response = await client.post(self.url, json=payload, headers={"User-Agent": self.user_agent})
        except httpx.HTTPError as exc:
            log.warning("push relay %s unreachable: %s", self.url, exc.__class__.__name__)
            return [PushFailed(f"relay unreachable: {exc.__class__.__name__}")] * len(items)
        if response.status_code >= 400:
            log.warning("push relay %s answered %d for %d items", self.url, response.status_code, len(items))
            return [PushFailed(f"relay answered {response.status_code}")] * len(items)
        return [None] * len(items)

    async def aclose(self) -> None:
        pass


class DisabledSender:
    """Public mode without `fcm.credentials_json`: nothing can be delivered, every item fails (and so
    ends blacklisted after the usual retries, which keeps the log quiet)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def send(self, items: Sequence[PushItem]) -> Results:
        log.warning("push not delivered to %d device(s): %s", len(items), self.reason)
        return [PushFailed(self.reason)] * len(items)

    async def aclose(self) -> None:
        pass


class MemorySender:
    """Test double: records what it was asked to send; `fail` names tokens whose delivery fails."""

    def __init__(self) -> None:
        self.batches: list[list[PushItem]] = []
        self.fail: set[str] = set()
        self.fail_all = False

    @property
    def attempts(self) -> list[PushItem]:
        return [item for batch in self.batches for item in batch]

    async def send(self, items: Sequence[PushItem]) -> Results:
        self.batches.append([PushItem(i.token, i.event, i.retries) for i in items])
        return [PushFailed("refused") if self.fail_all or i.token in self.fail else None for i in items]

    async def aclose(self) -> None:
        pass
