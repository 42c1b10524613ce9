"""Request bodies, validated as openapi/smsgate.yaml declares them (400 on any violation)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import pydantic
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import from_json

from ..domain.clock import parse_rfc3339
from ..domain.errors import InvalidInput
from ..domain.ids import has_control_characters
from ..domain.models import STATES, WEBHOOK_EVENTS
from ..events.notifier import EVENT_TYPES

State = Literal[STATES]  # type: ignore[valid-type]
WebhookEvent = Literal[WEBHOOK_EVENTS]  # type: ignore[valid-type]
PushEvent = Literal[EVENT_TYPES]  # type: ignore[valid-type]
# The longest Go time.Duration in whole seconds (~292 years): upstream turns ttl into one.
MAX_TTL_SECONDS = 9_223_372_036
MAX_PHONE_CHARS = 512  # a recipient: a number, or its ciphertext when encrypted (128 before upstream PR #258)
MAX_PUBLIC_KEY_CHARS = 4096
# Outgoing MMS (client-go 1.15; ours where upstream has no server handler yet): at most 10 parts, and their data
# together at most 1 MiB once decoded (1 398 104 base64 characters), a carrier's usual ceiling.
MAX_MMS_ATTACHMENTS = 10
MAX_MMS_DATA_CHARS = 1_398_104


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("data must be base64") from None
    return value


def _date_time(value: object) -> object:
    # pydantic would also read 1700000000 or "1700000000" as a Unix time, or a time without an offset;
    # Go's time.Time wants RFC 3339 text.
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time")
    return parse_rfc3339(value)


DateTime = Annotated[datetime, Field(strict=False), BeforeValidator(_date_time)]


def _length(min_length: int = 0, max_length: int | None = None) -> Any:
    return Field(min_length=min_length, max_length=max_length)


def _printable(value: str) -> str:
    if has_control_characters(value):
        raise ValueError("control characters (C0, DEL, C1) are not allowed in an id")
    return value


# Ids a client chooses: they end up in URLs, the Location header and logs.
Id36 = Annotated[str, _length(0, 36), AfterValidator(_printable)]
Id21 = Annotated[str, _length(0, 21), AfterValidator(_printable)]


class Body(BaseModel):
    # Strict types as Go's decoder has them; unknown keys are ignored as Go does.
    model_config = ConfigDict(strict=True, extra="ignore")

    @pydantic.model_validator(mode="before")
    @classmethod
    def _keys_in_any_case(cls, data: Any) -> Any:
        """As Go's decoder: a key matches its field in any letter case; of two keys for one field, the last wins."""
        if not isinstance(data, dict) or all(key in cls.model_fields for key in data):
            return data
        fields = {name.lower(): name for name in cls.model_fields}
        return {fields.get(key.lower(), key) if isinstance(key, str) else key: value for key, value in data.items()}


class TextMessage(Body):
    text: Annotated[str, _length(1, 65535)]


class DataMessage(Body):
    data: Annotated[str, Field(min_length=4, max_length=65535), AfterValidator(_base64)]
    port: Annotated[int, Field(ge=1, le=65535)]


class MmsAttachment(Body):
    contentType: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[ -~]+$")]
    name: Annotated[str, _length(0, 512)] | None = None
    data: Annotated[str, _length(1, MAX_MMS_DATA_CHARS)]


class MmsMessage(Body):
    subject: Annotated[str, _length(0, 1024)] | None = None  # room for the ciphertext of a subject
    text: Annotated[str, _length(0, 65535)] | None = None
    attachments: Annotated[list[MmsAttachment], Field(max_length=MAX_MMS_ATTACHMENTS)] | None = None

    def check(self, encrypted: bool) -> None:
        """Rules across fields: something to send, the parts' size, base64 data unless encrypted (the client
        then encrypts the base64 text itself, as it does a data message's)."""
        parts = self.attachments or []
        if not self.text and not parts:
            raise ValueError("mmsMessage needs text or at least one attachment")
        if sum(len(part.data) for part in parts) > MAX_MMS_DATA_CHARS:
            raise ValueError(f"mmsMessage attachments may hold at most {MAX_MMS_DATA_CHARS} base64 characters")
        if not encrypted:
            for part in parts:
                _base64(part.data)

    def content(self) -> dict[str, Any]:
        """The stored form, which is also the wire form: absent fields stay absent."""
        stored: dict[str, Any] = {}
        if self.subject is not None:
            stored["subject"] = self.subject
        if self.text is not None:
            stored["text"] = self.text
        stored["attachments"] = [part.model_dump(exclude_none=True) for part in self.attachments or []]
        return stored


class SendMessage(Body):
    id: Id36 | None = None
    deviceId: Id21 | None = None
    message: Annotated[str, _length(0, 65535)] | None = None
    textMessage: TextMessage | None = None
    dataMessage: DataMessage | None = None
    mmsMessage: MmsMessage | None = None
    phoneNumbers: Annotated[list[Annotated[str, _length(1, MAX_PHONE_CHARS)]], Field(min_length=1, max_length=100)]
    isEncrypted: bool | None = None
    simNumber: Annotated[int, Field(ge=1, le=3)] | None = None
    withDeliveryReport: bool | None = None
    priority: Annotated[int, Field(ge=-128, le=127)] | None = None
    ttl: Annotated[int, Field(ge=5, le=MAX_TTL_SECONDS)] | None = None
    validUntil: DateTime | None = None
    scheduleAt: DateTime | None = None

    @pydantic.model_validator(mode="after")
    def _mms_rules(self) -> SendMessage:
        if self.mmsMessage is not None:
            self.mmsMessage.check(bool(self.isEncrypted))
        return self


class InboxRefresh(Body):
    since: DateTime
    until: DateTime
    deviceId: Id21 | None = None
    messageTypes: Annotated[list[Literal["SMS", "MMS"]], Field(min_length=1)] | None = None
    webhookDelivery: Literal["Disabled", "Individual", "Batch"] | None = None
    triggerWebhooks: bool | None = None


class WebhookBody(Body):
    id: Id36 | None = None
    deviceId: Id21 | None = None
    url: Annotated[str, Field(max_length=256, pattern=r"^[hH][tT][tT][pP][sS]://.+")]
    event: WebhookEvent


class SimCardBody(Body):
    slotIndex: Annotated[int, Field(ge=0)]
    simNumber: Annotated[int, Field(ge=1, le=3)]
    phoneNumber: Annotated[str, _length(0, 128)] | None = None
    carrierName: Annotated[str, _length(0, 128)] | None = None
    iccid: Annotated[str, _length(0, 128)] | None = None


# A device's end-to-end key (upstream PR #258): a base64 RSA public key (an RSA-16384 SPKI is ~2.8 kB of
# base64; longer is refused) and its version, at least 1; absent or null leaves the stored one unchanged.
PublicKey = Annotated[str, Field(min_length=1, max_length=MAX_PUBLIC_KEY_CHARS), AfterValidator(_base64)]
KeyVersion = Annotated[int, Field(ge=1, le=2**31 - 1)]


class DeviceKeyFields(Body):
    publicKey: PublicKey | None = None
    keyVersion: KeyVersion | None = None


class RegisterDevice(DeviceKeyFields):
    name: Annotated[str, _length(0, 128)] | None = None
    pushToken: Annotated[str, _length(0, 256)] | None = None
    simCards: list[SimCardBody] | None = None


class UpdateDevice(DeviceKeyFields):
    id: Annotated[Id21, _length(1, 21)]
    pushToken: Annotated[str, _length(0, 256)] | None = None
    simCards: list[SimCardBody] | None = None


class ChangePassword(Body):
    currentPassword: Annotated[str, _length(1, 72)]
    newPassword: Annotated[str, _length(14, 72)]


class RecipientReport(Body):
    phoneNumber: Annotated[str, _length(1, MAX_PHONE_CHARS)]
    state: State
    error: Annotated[str, _length(0, 256)] | None = None


class StateReportBody(Body):
    id: Annotated[str, _length(1, 36)]
    state: State
    recipients: Annotated[list[RecipientReport], Field(min_length=1)]
    states: dict[State, DateTime] | None = None


class PushItem(Body):
    token: Annotated[str, _length(1, 256)]
    event: PushEvent
    data: dict[str, str] | None = None


StateReports = TypeAdapter(Annotated[list[StateReportBody], Field(max_length=1000)])
PushItems = TypeAdapter(Annotated[list[PushItem], Field(max_length=1000)])

M = TypeVar("M")


def whole_numbers(value: Any) -> Any:
    """JSON has one number type: `3.0` is the integer 3 (as JSON Schema counts it), so integer fields take it.

    Only floats that spell an integer exactly (up to 2**53) are turned into ints; `3.5` and `1e300` stay floats
    and strict integer fields reject them.
    """
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    if isinstance(value, list):
        return [whole_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: whole_numbers(item) for key, item in value.items()}
    return value


def parse_json(adapter: type[M] | TypeAdapter[M], raw: str | bytes) -> M:
    """Parses and validates a body; failures become 400 with the first problem named."""
    try:
        document = whole_numbers(from_json(raw or b"null"))
    except ValueError as exc:
        raise InvalidInput(f"failed to parse body: Invalid JSON: {exc}") from None
    try:
        if isinstance(adapter, TypeAdapter):
            return adapter.validate_python(document)
        return adapter.model_validate(document)  # type: ignore[attr-defined, no-any-return]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidInput(f"failed to validate: {where}: {first['msg']}") from None


class TokenRequest(Body):
    scopes: Annotated[list[Annotated[str, _length(1, 64)]], Field(min_length=1, max_length=32)]
    ttl: Annotated[int, Field(ge=0, le=10 * 365 * 24 * 3600)] | None = None
