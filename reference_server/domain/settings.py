"""User-wide device settings: validation, the whitelist, the two-level merge and the public view."""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError, model_validator

from ..events.notifier import DeviceEvent, Notifier
from ..storage.settings import Document, SettingsRepository
from .errors import InvalidInput

# Only these keys are stored (contract §2.2.7); anything else is dropped silently.
WHITELIST: dict[str, tuple[str, ...]] = {
    "encryption": ("passphrase",),
    "messages": ("send_interval_min", "send_interval_max", "limit_period", "limit_value", "sim_selection_mode",
                 "log_lifetime_days", "work_hours_enabled", "work_hours_start", "work_hours_end"),
    "ping": ("interval_seconds",),
    "logs": ("lifetime_days",),
    "webhooks": ("internet_required", "retry_count", "signing_key"),
    "gateway": ("notification_channel",),
    "receiver": ("content_provider_enabled",),
}

# The Android app keeps every integer setting in a Kotlin Int (MessagesSettings, PingSettings,
# WebhooksSettings...): a larger number would be stored here and then break the phone's import.
JAVA_INT_MAX = 2**31 - 1
Positive = Annotated[StrictInt, Field(ge=1, le=JAVA_INT_MAX)]
ServerEmpty = Annotated[StrictStr, Field(max_length=0, description="must not be used with a server")]
HourMinute = Annotated[StrictStr, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Encryption(_Section):
    passphrase: ServerEmpty | None = None


class _Messages(_Section):
    send_interval_min: Positive | None = None
    send_interval_max: Positive | None = None
    limit_period: Literal["Disabled", "PerMinute", "Per30Minutes", "PerHour", "PerDay"] | None = None
    limit_value: Positive | None = None
    sim_selection_mode: Literal["OSDefault", "RoundRobin", "Random"] | None = None
    log_lifetime_days: Positive | None = None
    processing_order: Literal["LIFO", "FIFO"] | None = None
    work_hours_enabled: StrictBool | None = None
    work_hours_start: HourMinute | None = None
    work_hours_end: HourMinute | None = None

    @model_validator(mode="after")
    def _consistent(self) -> _Messages:
        if self.send_interval_min and self.send_interval_max and self.send_interval_max < self.send_interval_min:
            raise ValueError("send_interval_max must be greater than or equal to send_interval_min")
        if self.work_hours_enabled and not (self.work_hours_start and self.work_hours_end):
            raise ValueError("work_hours_start and work_hours_end are required when work hours are enabled")
        return self


class _Ping(_Section):
    interval_seconds: Positive | None = None


class _Logs(_Section):
    lifetime_days: Positive | None = None


class _Webhooks(_Section):
    internet_required: StrictBool | None = None
    retry_count: Positive | None = None
    signing_key: ServerEmpty | None = None


class _Gateway(_Section):
    notification_channel: Literal["AUTO", "SSE_ONLY"] | None = None
    cloud_url: ServerEmpty | None = None
    private_token: ServerEmpty | None = None


class _Receiver(_Section):
    content_provider_enabled: StrictBool | None = None


class _Settings(_Section):
    encryption: _Encryption | None = None
    messages: _Messages | None = None
    ping: _Ping | None = None
    logs: _Logs | None = None
    webhooks: _Webhooks | None = None
    gateway: _Gateway | None = None
    receiver: _Receiver | None = None


def validated(document: Any) -> Document:
    """Checks the document and returns only its whitelisted part."""
    if not isinstance(document, dict):
        raise InvalidInput("Invalid settings format: the settings must be a JSON object")
    try:
        _Settings.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"Invalid settings format: {where}: {first['msg']}") from None
    filtered: Document = {}
    for section, keys in WHITELIST.items():
        if section not in document:
            continue
        value = document[section]
        filtered[section] = None if value is None else {k: v for k, v in value.items() if k in keys}
    return filtered


def merged(stored: Document, patch: Document) -> Document:
    """Two-level merge, as upstream's `appendMap`: sections are merged key by key, a null key is stored as null,
    and a section sent as null leaves the stored section alone."""
    result = copy.deepcopy(stored)
    for section, values in patch.items():
        if values is None:
            continue
        if isinstance(values, dict) and isinstance(result.get(section), dict):
            result[section].update(values)
        else:
            result[section] = values
    return result


def public_view(document: Document) -> Document:
    """What the 3rd-party API shows: no passphrase, no signing key."""
    view: Document = {}
    for section, values in document.items():
        if section not in WHITELIST:
            continue
        if section == "encryption":
            view[section] = {}
        elif section == "webhooks" and isinstance(values, dict):
            view[section] = {k: v for k, v in values.items() if k != "signing_key"}
        else:
            view[section] = values
    return view


class SettingsService:
    def __init__(self, repository: SettingsRepository, notifier: Notifier) -> None:
        self.repository = repository
        self.notifier = notifier

    async def for_device(self, user_id: str) -> Document:
        return await self.repository.get(user_id)

    async def public(self, user_id: str) -> Document:
        return public_view(await self.repository.get(user_id))

    async def replace(self, user_id: str, document: Any) -> Document:
        stored = await self.repository.replace(user_id, validated(document))
        await self.notifier.notify(user_id, None, DeviceEvent("SettingsUpdated"))
        return public_view(stored)

    async def patch(self, user_id: str, document: Any) -> Document:
        patch = validated(document)
        # The merge is checked too: min and max sent in two requests must still agree (inside the transaction,
        # so a concurrent PATCH cannot slip a contradiction in between).
        stored = await self.repository.update(user_id, lambda old: validated(merged(old, patch)))
        await self.notifier.notify(user_id, None, DeviceEvent("SettingsUpdated"))
        return public_view(stored)
