"""Domain records as the wire shows them (field names exactly as upstream's JSON)."""

from __future__ import annotations

import math
from typing import Any

from ..domain.clock import format_time, now
from ..domain.models import Device, Message, SimCard, Webhook


def _content(message: Message) -> dict[str, Any]:
    body = message.body
    if body is None:
        return {}
    if message.type == "Data":
        return {"dataMessage": {"data": body["data"], "port": body["port"]}}
    if message.type == "Mms":
        return {"mmsMessage": body}
    return {"textMessage": {"text": body["text"]}}


def message_state(message: Message, include_content: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": message.ext_id,
        "deviceId": message.device_id,
        "state": message.state,
        "isHashed": message.is_hashed,
        "isEncrypted": message.is_encrypted,
        "recipients": [
            {"phoneNumber": r.phone_number, "state": r.state, **({"error": r.error} if r.error else {})}
            for r in message.recipients
        ],
        "states": {state: format_time(at) for state, at in message.states.items()},
    }
    if message.is_hashed:
        view["hashedMessage"] = {"hash": message.content}
    elif include_content:
        view.update(_content(message))
    return view


def mobile_message(message: Message) -> dict[str, Any]:
    view: dict[str, Any] = {"id": message.ext_id, **_content(message)}
    if "textMessage" in view:
        view["message"] = view["textMessage"]["text"]  # legacy copy for old apps
    view.update(phoneNumbers=[r.phone_number for r in message.recipients], isEncrypted=message.is_encrypted,
                withDeliveryReport=message.with_delivery_report)
    if message.sim_number is not None:
        view["simNumber"] = message.sim_number
    if message.priority:
        view["priority"] = message.priority
    if message.valid_until is not None:
        view["ttl"] = max(0, math.floor((message.valid_until - now()).total_seconds()))
        view["validUntil"] = format_time(message.valid_until)
    if message.schedule_at is not None:
        view["scheduleAt"] = format_time(message.schedule_at)
    view["state"] = message.state
    view["createdAt"] = format_time(message.created_at or now())
    return view


def sim_card(card: SimCard) -> dict[str, Any]:
    view: dict[str, Any] = {"slotIndex": card.slot_index, "simNumber": card.sim_number}
    for key, value in (("phoneNumber", card.phone_number), ("carrierName", card.carrier_name),
                       ("iccid", card.iccid)):
        if value is not None:
            view[key] = value
    return view


def device(device: Device) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": device.id,
        "name": device.name or "",
        "createdAt": format_time(device.created_at),
        "updatedAt": format_time(device.updated_at),
        "lastSeen": format_time(device.last_seen),
    }
    if device.sim_cards:
        view["simCards"] = [sim_card(card) for card in device.sim_cards]
    if device.public_key is not None:  # omitted when unset, as upstream's `omitempty`
        view["publicKey"] = device.public_key
    if device.key_version is not None:
        view["keyVersion"] = device.key_version
    return view


def webhook(webhook: Webhook) -> dict[str, Any]:
    return {"id": webhook.ext_id, "deviceId": webhook.device_id, "url": webhook.url, "event": webhook.event}
