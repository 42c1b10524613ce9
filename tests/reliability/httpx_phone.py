"""A gateway phone played with plain httpx calls, following the app's protocol (device-protocol §1.7–1.9).

SSE only (registered without a push token): it holds `GET /events` open and reconnects with a backoff when the
stream ends or fails; it pulls `GET /message` on every connect and on every `MessageEnqueued`; a message it
already knows is only re-reported, never sent again; each state change goes out as a one-item `PATCH /message`
carrying the whole message (state, recipients, first-reached history), retried until the server takes it.

What the app keeps in its database lives in `PhoneStore`, which outlives a `Phone`: a crash is the end of one
`Phone` object, a comeback a new one on the same store. `radio` records every SMS handed to the radio, so
a test can count duplicate sends. The backoff is shorter than the app's (5 s) to keep tests quick.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import trio

MOBILE = "/api/mobile/v1"
FINAL = ("Delivered", "Failed", "Cancelled")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class LocalMessage:
    id: str
    phones: list[str]
    state: str = "Pending"
    history: dict[str, str] = field(default_factory=dict)

    def move(self, state: str) -> None:
        self.state = state
        self.history.setdefault(state, _now())

    def report(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "states": dict(self.history),
                "recipients": [{"phoneNumber": phone, "state": self.state} for phone in self.phones]}


@dataclass
class PhoneStore:
    """The phone's persistent state: its token, its messages, and the reports not yet taken by the server."""

    token: str
    messages: dict[str, LocalMessage] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    radio: list[str] = field(default_factory=list)  # every send handed to the radio, in order


class Phone:
    def __init__(self, http: httpx.AsyncClient, store: PhoneStore, backoff: float = 0.3,
                 max_backoff: float = 2.0) -> None:
        self.http = http
        self.store = store
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.headers = {"Authorization": f"Bearer {store.token}"}
        self.connects = 0  # SSE streams opened
        self._pull_wanted = trio.Event()
        self._outbox_changed = trio.Event()

    async def run(self) -> None:
        """Until cancelled (a crash): the event stream, the puller, the sender of reports.

        A comeback first finishes what its store holds unfinished, as the app's local queue does.
        """
        for message in list(self.store.messages.values()):
            if message.state not in FINAL:
                await self.process(message)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._events)
            nursery.start_soon(self._puller)
            nursery.start_soon(self._reporter)

    # --- the event stream ----------------------------------------------------------------------------
    async def _events(self) -> None:
        delay = self.backoff
        while True:
            try:
                async with self.http.stream("GET", f"{MOBILE}/events", headers=self.headers,
                                            timeout=httpx.Timeout(5, read=None)) as response:
                    if response.status_code == 200:
                        self.connects += 1
                        delay = self.backoff
                        self.want_pull()  # the app pulls on every SSE connect
                        async for line in response.aiter_lines():
                            if line.strip() == "event: MessageEnqueued":
                                self.want_pull()
            except httpx.HTTPError:
                pass
            await trio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

    def want_pull(self) -> None:
        self._pull_wanted.set()

    # --- pulling and "sending" ----------------------------------------------------------------------
    async def _puller(self) -> None:
        while True:
            await self._pull_wanted.wait()
            self._pull_wanted = trio.Event()
            while not await self.pull():  # noqa: ASYNC110 - retrying a pull the server did not answer
                await trio.sleep(self.backoff)

    async def pull(self) -> bool:
        """One `GET /message` and what the app does with it; False when the server did not answer 200."""
        try:
            response = await self.http.get(f"{MOBILE}/message", headers=self.headers, timeout=5)
        except httpx.HTTPError:
            return False
        if response.status_code != 200:
            return False
        for item in response.json():
            known = self.store.messages.get(item["id"])
            if known is not None:
                self.queue_report(known)  # known ids are re-reported, not sent again
                continue
            message = LocalMessage(item["id"], list(item["phoneNumbers"]))
            self.store.messages[message.id] = message
            await self.process(message)
        return True

    async def process(self, message: LocalMessage) -> None:
        """Processed, handed to the radio once, then Sent and Delivered; each change reported. Resumable."""
        if message.state == "Pending":
            message.move("Processed")
            self.queue_report(message)
        if message.state == "Processed":
            self.store.radio.append(message.id)  # and Sent with it: no crash point between the two here
            message.move("Sent")
            self.queue_report(message)
        if message.state == "Sent":
            message.move("Delivered")
            self.queue_report(message)

    # --- state reports --------------------------------------------------------------------------------
    def queue_report(self, message: LocalMessage) -> None:
        self.store.outbox.append(json.loads(json.dumps(message.report())))  # a snapshot, as a stored job is
        self._outbox_changed.set()

    async def _reporter(self) -> None:
        while True:
            while self.store.outbox:
                if await self.patch(self.store.outbox[0]):
                    self.store.outbox.pop(0)
                else:
                    await trio.sleep(self.backoff)
            await self._outbox_changed.wait()
            self._outbox_changed = trio.Event()

    async def patch(self, report: dict[str, Any]) -> bool:
        try:
            response = await self.http.patch(f"{MOBILE}/message", json=[report], headers=self.headers, timeout=5)
        except httpx.HTTPError:
            return False
        return response.status_code == 204


async def register(http: httpx.AsyncClient, name: str, auth: tuple[str, str] | None = None) -> dict[str, Any]:
    response = await http.post(f"{MOBILE}/device", json={"name": name}, auth=auth or httpx.USE_CLIENT_DEFAULT)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def settle(done: Any, within: float, poll: float = 0.1) -> None:
    """Waits until `done()` holds."""
    with trio.fail_after(within if within else math.inf):
        while not done():  # noqa: ASYNC110 - state spread over several tasks and a remote server
            await trio.sleep(poll)
