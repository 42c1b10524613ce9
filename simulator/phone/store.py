"""The phone's local message database: messages, recipients, first-reached states.

Mirrors the app's Room tables: recipient rows carry state and error; a message's state is derived
from its recipients (`MessageWithRecipients.state`, precedence Pending > Cancelling > Cancelled >
Processed > all Failed > all Delivered > Sent) and each message-level state is recorded once, with the
time it was first reached (insert-ignore). A recipient's Failed is sticky.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

PRIORITY_EXPEDITED = 100
PRIORITY_MIN = -128


@dataclass
class Recipient:
    phone_number: str  # exactly as received (ciphertext for encrypted messages)
    state: str = "Pending"
    error: str | None = None


@dataclass
class LocalMessage:
    id: str
    row_id: int
    text: str | None  # textMessage.text (or the legacy `message`), possibly encrypted
    data: str | None  # dataMessage.data (base64, possibly encrypted)
    port: int | None
    recipients: list[Recipient]
    is_encrypted: bool = False
    with_delivery_report: bool = True
    sim_number: int | None = None  # as requested (1-based), or the SIM the phone chose
    priority: int = 0
    valid_until: float | None = None  # epoch seconds
    schedule_at: float | None = None
    created_at: float = 0.0
    source: str = "Cloud"
    state: str = "Pending"
    states: dict[str, int] = field(default_factory=dict)  # state -> epoch millis, first reached
    processed_at: int | None = None
    parts_count: int | None = None
    # mmsMessage as pulled: {subject?, text?, attachments: [{contentType, name?, data}]} (data possibly encrypted)
    mms: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        return "mms" if self.mms is not None else "data" if self.data is not None else "text"

    def recipient(self, phone_number: str) -> Recipient | None:
        return next((r for r in self.recipients if r.phone_number == phone_number), None)


def derived_state(recipients: list[Recipient]) -> str:
    states = [r.state for r in recipients]
    for state in ("Pending", "Cancelling", "Cancelled", "Processed"):
        if state in states:
            return state
    if states and all(s == "Failed" for s in states):
        return "Failed"
    if states and all(s == "Delivered" for s in states):
        return "Delivered"
    return "Sent"


@dataclass
class StateChange:
    """One `MessageStateChangedEvent`: the state set on `phone_numbers` of `message`."""

    message: LocalMessage
    phone_numbers: list[str]
    state: str
    error: str | None
    message_state_changed: bool


class MessageStore:
    def __init__(self, limit: int = 10_000) -> None:
        self.messages: dict[str, LocalMessage] = {}
        self.limit = limit  # finished messages beyond this are forgotten, oldest first
        self._rows = itertools.count(1)

    def next_row(self) -> int:
        return next(self._rows)

    def get(self, message_id: str) -> LocalMessage | None:
        return self.messages.get(message_id)

    def insert(self, message: LocalMessage, now_ms: int) -> None:
        message.states.setdefault(message.state, now_ms)
        self.messages[message.id] = message
        if len(self.messages) > self.limit:
            self._truncate()

    def update(self, message: LocalMessage, phone_number: str | None, state: str, error: str | None,
               now_ms: int) -> StateChange | None:
        """Set `state` on one recipient (or all when `phone_number` is None). A recipient that Failed keeps
        Failed (the DAO's `state <> 'Failed'`), but the change is still announced, as the app emits
        `MessageStateChangedEvent` after every update: the report and the webhook still go out."""
        targets = message.recipients if phone_number is None else [
            r for r in message.recipients if r.phone_number == phone_number]
        touched = [r for r in targets if r.state != "Failed"]
        if not touched:
            return StateChange(message, [r.phone_number for r in targets], state, error, False)
        for recipient in touched:
            recipient.state, recipient.error = state, error
        new_state = derived_state(message.recipients)
        changed = new_state != message.state
        if changed:
            message.state = new_state
            message.states.setdefault(new_state, now_ms)
            if new_state == "Processed":
                message.processed_at = now_ms
        return StateChange(message, [r.phone_number for r in touched], state, error, changed)

    def pending(self) -> Iterator[LocalMessage]:
        return (m for m in self.messages.values() if m.state == "Pending")

    def next_pending(self, now: float, fifo: bool) -> LocalMessage | None:
        """`MessagesDao` order: priority DESC, then createdAt DESC (LIFO) or ASC (FIFO); due ones only."""
        due = [m for m in self.pending() if m.schedule_at is None or m.schedule_at <= now]
        if not due:
            return None
        sign = 1 if fifo else -1
        return min(due, key=lambda m: (-m.priority, sign * m.created_at, sign * m.row_id))

    def next_scheduled(self, now: float) -> float | None:
        times = [m.schedule_at for m in self.pending() if m.schedule_at is not None and m.schedule_at > now]
        return min(times) if times else None

    def processed_since(self, since_ms: int) -> tuple[int, int]:
        """`countProcessedFrom`: messages past Pending, not Failed, processed since; and the newest time."""
        times = [m.processed_at for m in self.messages.values()
                 if m.state not in ("Pending", "Failed") and m.processed_at is not None and m.processed_at >= since_ms]
        return len(times), max(times, default=0)

    def failed_since(self, since_ms: int) -> int:
        return sum(1 for m in self.messages.values() if m.state == "Failed" and m.created_at * 1000 >= since_ms)

    def _truncate(self) -> None:
        finished = [m for m in self.messages.values() if m.state != "Pending"]
        finished.sort(key=lambda m: m.row_id)
        for message in finished[: len(self.messages) - self.limit]:
            del self.messages[message.id]
