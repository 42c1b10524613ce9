"""Pulling work (`PullMessagesWorker` + `GatewayService.processMessage`).

`GET /message?order=lifo|fifo`, one GET per trigger (no paging: the server returns at most 100).
Per message: Pending and already known -> re-report its current state (that is what clears it from
the server's pending list); Pending and new -> enqueue locally (no PATCH); Cancelling -> cancel a
local Pending copy (which reports Cancelled), PATCH Cancelled for all recipients when unknown, and do
nothing when the local copy is already past Pending.

Each trigger (the start, a push or SSE event, a ping) is `enqueueUniquePeriodicWork(REPLACE)` in the
app: it aborts a pull in flight, pulls at once and restarts the 15-minute timer from there. A failed
pull retries after 10 s x 2^(n-1) (cap 5 h), WorkManager's exponential backoff.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import trio

from .api import ApiError
from .clock import parse_time
from .store import LocalMessage, Recipient

if TYPE_CHECKING:
    from .phone import Phone

BASE_BACKOFF = 10.0
MAX_BACKOFF = 5 * 3600.0


class Puller:
    """One task per phone: it waits for a trigger, then runs the periodic job until the next trigger cancels it
    (a task, a nursery and a channel fewer than a dispatcher starting a task per job)."""

    def __init__(self, phone: Phone) -> None:
        self.phone = phone
        self.pulls = 0
        self.aborted = 0  # pulls a later trigger replaced while in flight
        self._now = False  # whether the waiting trigger pulls at once
        self._waiting = False  # a trigger the task has not taken up yet
        self._triggered = trio.Event()
        self._job_scope: trio.CancelScope | None = None

    def trigger(self, now: bool = True) -> None:
        """Replace the periodic job; `now=False` starts its timer without a pull (a start that finds
        no registration yet: the app's first run pulls nothing)."""
        self._now = now or (self._now and self._waiting)
        self._waiting = True
        if self._job_scope is not None:
            self._job_scope.cancel()
        self._triggered.set()

    async def run(self) -> None:
        """Replace the periodic job at each trigger."""
        try:
            while True:
                if not self._waiting:
                    self._triggered = trio.Event()
                    await self._triggered.wait()
                self._waiting = False
                with trio.CancelScope() as scope:
                    self._job_scope = scope
                    await self._job(self._now, scope)
        finally:
            self._job_scope = None

    async def _job(self, now: bool, scope: trio.CancelScope) -> None:
        """The periodic work: pull now, then every `pull_interval`, with backoff after failures."""
        failures = 0
        pulling = False
        try:
            if not now:
                await trio.sleep(self.phone.config.pull_interval)
            while True:
                pulling = True
                try:
                    await self.pull()
                    failures = 0
                except (ApiError, httpx.HTTPError, OSError, ValueError) as exc:
                    failures += 1
                    self.phone.notify_error("pull", str(exc))
                pulling = False
                delay = min(BASE_BACKOFF * 2 ** (failures - 1), MAX_BACKOFF) if failures \
                    else self.phone.config.pull_interval
                await trio.sleep(delay)
        finally:
            if pulling and scope.cancel_called:
                self.aborted += 1

    async def pull(self) -> None:
        phone = self.phone
        messages = await phone.api.messages(phone.settings.processing_order)
        self.pulls += 1
        for message in messages:
            try:
                self.process(message)
            except (KeyError, TypeError, ValueError) as exc:
                phone.notify_error("pull", f"message {message.get('id')}: {exc!r}")

    def process(self, message: dict[str, Any]) -> None:
        phone = self.phone
        state = message.get("state") or "Pending"
        local = phone.store.get(str(message["id"]))
        if state == "Pending":
            if local is not None:
                phone.reporter.report(local.id)
            else:
                phone.enqueue(local_message(message, phone.store.next_row(), phone.clock.timestamp()))
        elif state == "Cancelling":
            if local is None:
                phone.reporter.report({
                    "id": str(message["id"]), "state": "Cancelled",
                    "recipients": [{"phoneNumber": p, "state": "Cancelled"} for p in message.get("phoneNumbers", [])],
                    "states": {"Cancelled": phone.clock.format()},
                })
            elif local.state == "Pending":
                phone.cancel(local)


def local_message(message: dict[str, Any], row_id: int, now: float) -> LocalMessage:
    text_message = message.get("textMessage")
    data_message = message.get("dataMessage")
    mms_message = message.get("mmsMessage")
    text = data = None
    port = None
    mms = None
    if isinstance(mms_message, dict):  # an MMS: its parts kept as pulled, never read as an empty text
        mms = {key: mms_message[key] for key in ("subject", "text") if mms_message.get(key) is not None}
        mms["attachments"] = [dict(part) for part in mms_message.get("attachments") or []]
    elif isinstance(data_message, dict):
        data, port = str(data_message.get("data", "")), data_message.get("port")
    elif isinstance(text_message, dict):
        text = str(text_message.get("text", ""))
    else:
        text = str(message.get("message") or "")
    with_report = message.get("withDeliveryReport")
    return LocalMessage(
        id=str(message["id"]), row_id=row_id, text=text, data=data, port=port,
        recipients=[Recipient(str(p)) for p in message.get("phoneNumbers") or []],
        is_encrypted=bool(message.get("isEncrypted")),
        with_delivery_report=True if with_report is None else bool(with_report),
        sim_number=message.get("simNumber"), priority=int(message.get("priority") or 0),
        valid_until=parse_time(message.get("validUntil")), schedule_at=parse_time(message.get("scheduleAt")),
        created_at=parse_time(message.get("createdAt")) or now, mms=mms,
    )
