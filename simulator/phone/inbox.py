"""Incoming SMS: the phone's inbox and the `sms:received` / `sms:data-received` payloads.

`messageId` is the app's `InboxMessage.hashCode()` as unsigned 32-bit lower-case hex: for a text,
31 * (31 * (31 * address.hashCode() + date.hashCode()) + subscriptionId) + text.hashCode(), with
Java's String and Date hash codes; a data SMS ends with `data.contentHashCode()` (Arrays.hashCode of
its signed bytes) instead. The app processes each of them once (`isMessageProcessed`, keyed by kind
and hash code): an inbox export re-reads the inbox but skips what it has already processed.
Payload keys follow Gson's field order: the event's own fields first, then `messageId`, `sender`,
`recipient`, `simNumber`, `phoneNumber`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from .webhooks import java_hash

DATA_SMS_PORT = 53739


@dataclass
class InboxEntry:
    sender: str
    date_ms: int  # the PDU timestamp
    subscription_id: int | None
    slot_index: int | None
    text: str | None = None
    data: bytes | None = None
    port: int | None = None
    message_id: str = ""


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _base_hash(sender: str, date_ms: int, subscription_id: int | None) -> int:
    date_hash = _int32(date_ms ^ (date_ms >> 32))
    result = java_hash(sender)
    result = _int32(31 * result + date_hash)
    return _int32(31 * result + (subscription_id or 0))


def text_message_id(sender: str, date_ms: int, subscription_id: int | None, text: str) -> str:
    result = _int32(31 * _base_hash(sender, date_ms, subscription_id) + java_hash(text))
    return f"{result & 0xFFFFFFFF:x}"


def bytes_hash(data: bytes) -> int:
    """Java's `Arrays.hashCode(byte[])` (bytes are signed)."""
    result = 1
    for byte in data:
        result = _int32(31 * result + (byte - 256 if byte > 127 else byte))
    return result


def data_message_id(sender: str, date_ms: int, subscription_id: int | None, data: bytes) -> str:
    result = _int32(31 * _base_hash(sender, date_ms, subscription_id) + bytes_hash(data))
    return f"{result & 0xFFFFFFFF:x}"


MESSAGE_TYPES = ("SMS", "DATA_SMS", "MMS", "MMS_DOWNLOADED")  # IncomingMessageType


def export_types(value: Any) -> set[str]:
    """`MessagesExportRequestedEvent`: `messageTypes` is a comma-separated list; absent or with an
    unknown name it is {SMS} (the app catches the valueOf error)."""
    if not isinstance(value, str) or not value:
        return {"SMS"}
    names = set(value.split(","))
    return names if names <= set(MESSAGE_TYPES) else {"SMS"}


def entry_type(entry: InboxEntry) -> str:
    return "DATA_SMS" if entry.data is not None else "SMS"


def received_payload(entry: InboxEntry, recipient: str | None, received_at: str) -> tuple[str, dict[str, Any]]:
    sim_number = entry.slot_index + 1 if entry.slot_index is not None else None
    common = {"messageId": entry.message_id, "sender": entry.sender, "recipient": recipient,
              "simNumber": sim_number, "phoneNumber": entry.sender}
    if entry.data is not None:
        return "sms:data-received", {"data": base64.b64encode(entry.data).decode(), "receivedAt": received_at,
                                     **common}
    return "sms:received", {"message": entry.text or "", "receivedAt": received_at, **common}


def mms_received_payload(message_id: str, transaction_id: str, sender: str, recipient: str | None,
                         sim_number: int | None, subject: str | None, size: int, content_class: str | None,
                         received_at: str) -> dict[str, Any]:
    """`MmsReceivedPayload` (MMS headers, before download): its own fields, then `MessageEventPayload`'s
    (Gson writes a subclass's fields first); nulls are left out by Gson."""
    return {"transactionId": transaction_id, "subject": subject, "size": size, "contentClass": content_class,
            "receivedAt": received_at, "messageId": message_id, "sender": sender, "recipient": recipient,
            "simNumber": sim_number, "phoneNumber": sender}


def mms_downloaded_payload(message_id: str, sender: str, recipient: str | None, sim_number: int | None,
                           body: str | None, subject: str | None, attachments: list[dict[str, Any]],
                           received_at: str) -> dict[str, Any]:
    """`MmsDownloadedPayload`; each attachment is {partId, contentType, name, size, data (base64)}."""
    return {"body": body, "subject": subject, "attachments": attachments, "receivedAt": received_at,
            "messageId": message_id, "sender": sender, "recipient": recipient, "simNumber": sim_number,
            "phoneNumber": sender}
