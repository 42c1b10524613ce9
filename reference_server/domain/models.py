"""The records the domain works with, independent of tables and JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

STATES = ("Pending", "Cancelling", "Cancelled", "Processed", "Sent", "Delivered", "Failed")

WEBHOOK_EVENTS = (
    "sms:received", "sms:data-received", "sms:sent", "sms:delivered", "sms:failed", "sms:cancelled",
    "system:ping", "mms:received", "mms:downloaded", "app:started", "sms:batch:received",
    "sms:batch:data-received", "mms:batch:received", "mms:batch:downloaded",
)


@dataclass(frozen=True)
class Principal:
    """A 3rd-party caller: a user and the scopes its credential carries (Basic: `all:any`)."""

    user_id: str
    scopes: frozenset[str] = frozenset({"all:any"})

    def allows(self, scope: str, exact: bool = False) -> bool:
        return scope in self.scopes or (not exact and "all:any" in self.scopes)


@dataclass
class User:
    id: str
    password_hash: str


@dataclass
class SimCard:
    slot_index: int
    sim_number: int
    phone_number: str | None = None
    carrier_name: str | None = None
    iccid: str | None = None


@dataclass
class Device:
    id: str
    user_id: str
    name: str | None
    auth_token: str
    push_token: str | None
    sim_cards: list[SimCard]
    last_seen: datetime
    created_at: datetime
    updated_at: datetime
    public_key: str | None = None  # base64 RSA key for end-to-end encryption (upstream PR #258)
    key_version: int | None = None


@dataclass(frozen=True)
class DeviceKey:
    """A device's key as a request gives it: None leaves the stored value unchanged (a key is never cleared)."""

    public_key: str | None = None
    key_version: int | None = None


NO_KEY = DeviceKey()


@dataclass
class Recipient:
    phone_number: str
    state: str = "Pending"
    error: str | None = None


@dataclass
class Message:
    ext_id: str
    device_id: str
    type: str  # "Text" | "Data" | "Mms"
    content: str  # JSON {"text"} / {"data","port"}, or the SHA-256 hex once hashed
    recipients: list[Recipient]
    state: str = "Pending"
    valid_until: datetime | None = None
    schedule_at: datetime | None = None
    sim_number: int | None = None
    with_delivery_report: bool = True
    priority: int = 0
    is_hashed: bool = False
    is_encrypted: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    states: dict[str, datetime] = field(default_factory=dict)
    id: int | None = None  # internal row id

    @property
    def body(self) -> dict[str, Any] | None:
        """The decoded content, or None once the message is hashed."""
        if self.is_hashed:
            return None
        decoded: dict[str, Any] = json.loads(self.content)
        return decoded


@dataclass
class StateReport:
    """One item of a device's PATCH /message."""

    ext_id: str
    state: str
    recipients: list[Recipient]
    states: dict[str, datetime]


@dataclass
class Webhook:
    ext_id: str
    user_id: str
    url: str
    event: str
    device_id: str | None = None
