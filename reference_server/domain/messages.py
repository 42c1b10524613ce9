"""Sending, listing, cancelling messages, and the device's pull and state reports."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..events.notifier import DeviceEvent, Notifier
from ..storage.devices import DevicesRepository
from ..storage.messages import DuplicateMessage, DuplicateRecipient, MessageFilter, MessagesRepository
from .clock import now, to_utc_naive
from .errors import Conflict, InvalidInput, NotFound
from .ids import new_id
from .models import Device, Message, Recipient, StateReport
from .phones import normalize_phone
from .queue_limits import QueueLimiter


@dataclass
class SendRequest:
    phone_numbers: list[str]
    ext_id: str | None = None
    device_id: str | None = None
    legacy_text: str | None = None
    text: str | None = None
    data: str | None = None
    port: int | None = None
    mms: dict[str, Any] | None = None  # {subject?, text?, attachments: [{contentType, name?, data}]}, validated
    is_encrypted: bool = False
    sim_number: int | None = None
    with_delivery_report: bool = True
    priority: int = 0
    ttl: int | None = None
    valid_until: datetime | None = None
    schedule_at: datetime | None = None


class MessagesService:
    def __init__(self, messages: MessagesRepository, devices: DevicesRepository, notifier: Notifier,
                 default_region: str = "RU", count_state: Callable[[str], None] | None = None,
                 limiter: QueueLimiter | None = None, count_cache: Callable[[], None] | None = None) -> None:
        self.messages = messages
        # Upstream caches message states and counts hits and misses; every lookup here reads the database: a miss.
        self.count_cache_miss = count_cache or (lambda: None)
        self.count_state = count_state or (lambda _state: None)
        self.limiter = limiter
        self.devices = devices
        self.notifier = notifier
        self.default_region = default_region

    async def send(self, user_id: str, request: SendRequest, *, skip_phone_validation: bool = False,
                   device_active_within_hours: int = 0) -> Message:
        moment = now()
        kind, content = _content_of(request)
        if request.ttl is not None and request.valid_until is not None:
            raise InvalidInput("failed to validate: conflict fields: ttl and validUntil")
        schedule_at = to_utc_naive(request.schedule_at) if request.schedule_at else None
        if schedule_at is not None and schedule_at <= moment:
            raise InvalidInput("failed to validate: scheduleAt must be in the future")

        seen_since = moment - timedelta(hours=device_active_within_hours) if device_active_within_hours else None
        candidates = await self.devices.candidate_ids(user_id, request.device_id or None, seen_since)
        if not candidates:
            raise InvalidInput("failed to select device: record not found")
        device_id = random.choice(candidates)
        if self.limiter is not None:
            await self.limiter.check(device_id)

        phones = list(request.phone_numbers)
        if not (request.is_encrypted or skip_phone_validation):
            phones = [normalize_phone(phone, self.default_region) for phone in phones]
        if len(set(phones)) != len(phones):
            raise InvalidInput("phone numbers must be unique")

        valid_until = to_utc_naive(request.valid_until) if request.valid_until else None
        if request.ttl:
            valid_until = moment + timedelta(seconds=request.ttl)
        if schedule_at is not None and valid_until is not None and schedule_at > valid_until:
            raise InvalidInput("scheduleAt must be less than or equal to validUntil")

        message = Message(
            ext_id=request.ext_id or new_id(), device_id=device_id, type=kind, content=content,
            recipients=[Recipient(phone) for phone in phones], valid_until=valid_until, schedule_at=schedule_at,
            sim_number=request.sim_number, with_delivery_report=request.with_delivery_report,
            priority=request.priority, is_encrypted=request.is_encrypted, created_at=moment,
        )
        try:
            stored = await self.messages.insert(message)
        except DuplicateMessage:
            raise Conflict("message with the same ID already exists") from None
        except DuplicateRecipient:
            raise InvalidInput("phone numbers must be unique") from None
        self.count_state("Pending")
        await self.notifier.notify(user_id, device_id, DeviceEvent("MessageEnqueued"))
        return stored

    async def get(self, user_id: str, ext_id: str) -> Message:
        self.count_cache_miss()
        found = await self.messages.find_for_user(user_id, ext_id)
        if not found:
            raise NotFound("message not found")
        if len(found) > 1:
            raise Conflict("failed to get message state: several messages have this id; query by device")
        return found[0]

    async def search(self, query: MessageFilter) -> tuple[list[Message], int]:
        return await self.messages.search(query)

    async def cancel(self, user_id: str, ext_id: str) -> Message:
        found, moved = await self.messages.mark_cancelling(user_id, ext_id)
        if not found:
            raise NotFound("failed to cancel message: message not found")
        if len(found) > 1:
            raise InvalidInput("failed to cancel message: several messages have this id")
        message = found[0]
        if not moved:
            raise Conflict("failed to cancel message: message is not pending")
        await self.notifier.notify(user_id, message.device_id,
                                   DeviceEvent("MessageCancelled", {"messageId": message.ext_id}))
        return message

    async def pending(self, device: Device, fifo: bool) -> list[Message]:
        return await self.messages.pending_for_device(device.id, fifo)

    async def report(self, device: Device, reports: list[StateReport]) -> None:
        for report in reports:
            # A device never stores Pending: it means "taken", i.e. Processed.
            report.state = _taken(report.state)
            for recipient in report.recipients:
                recipient.state = _taken(recipient.state)
            # History keys stay as reported: a `Pending` entry is ignored (the row exists since creation)
            # and must not shadow the `Processed` time.
            report.states = {state: to_utc_naive(at) for state, at in report.states.items()}
        known = set(await self.messages.apply_reports(device.id, reports))
        for report in reports:
            if report.ext_id in known:
                self.count_state(report.state)


def _taken(state: str) -> str:
    return "Processed" if state == "Pending" else state


def _content_of(request: SendRequest) -> tuple[str, str]:
    given = [request.legacy_text is not None, request.text is not None, request.data is not None,
             request.mms is not None]
    if sum(given) != 1:
        raise InvalidInput("failed to validate: must specify exactly one of: textMessage, dataMessage or mmsMessage")
    if request.mms is not None:
        return "Mms", json.dumps(request.mms)
    if request.data is not None:
        return "Data", json.dumps({"data": request.data, "port": request.port})
    text = request.text if request.text is not None else request.legacy_text
    return "Text", json.dumps({"text": text})
