"""The stored inbox (upstream 1.48): the phone uploads, the integrator lists and downloads attachments."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, TypeAdapter
from quart import Blueprint, Response, g, request

from ..domain.clock import format_time, to_utc_naive
from ..domain.errors import InvalidInput, NotFound
from ..storage.inbox import Attachment, InboxFilter, IncomingMessage
from ..storage.tables import INBOX_TYPES
from . import query, thirdparty
from .auth import device_route, user_route
from .context import services
from .mobile import PREFIX as MOBILE_PREFIX
from .responses import empty, json_response
from .schemas import Body, DateTime, parse_json

InboxType = Literal[INBOX_TYPES]  # type: ignore[valid-type]
MAX_BATCH = 1000  # the app sends up to 500
MAX_LIMIT = 1000  # ours: upstream sets no cap on one page


def _decoded(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("data must be base64") from None


def _base64(value: str) -> str:
    _decoded(value)
    return value


# PostgreSQL text holds no NUL character: refused in every stored text of the inbox, on every database alike.
NO_NUL = r"^[^\x00]*$"


class AttachmentBody(Body):
    partId: Annotated[int, Field(ge=-(2**63), lt=2**63)]
    contentType: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x20-\x7e]+$")]
    name: Annotated[str, Field(max_length=512, pattern=NO_NUL)] = ""
    size: Annotated[int, Field(ge=0, lt=2**63)] | None = None
    data: Annotated[str, AfterValidator(_base64)]


class InboxItem(Body):
    id: Annotated[str, Field(min_length=1, max_length=36, pattern=NO_NUL)]
    type: InboxType
    sender: Annotated[str, Field(min_length=1, max_length=512, pattern=NO_NUL)]
    recipient: Annotated[str, Field(max_length=512, pattern=NO_NUL)] | None = None
    simNumber: Annotated[int, Field(ge=0, le=255)] | None = None
    content: Annotated[str, Field(max_length=65535, pattern=NO_NUL)]
    isEncrypted: bool = False
    createdAt: DateTime
    attachments: Annotated[list[AttachmentBody], Field(max_length=100)] | None = None


InboxUpload = TypeAdapter(Annotated[list[InboxItem], Field(max_length=MAX_BATCH)])

mobile_blueprint = Blueprint("inbox_mobile", __name__, url_prefix=MOBILE_PREFIX)
thirdparty_blueprint = Blueprint("inbox_thirdparty", __name__, url_prefix=thirdparty.PREFIX)


@mobile_blueprint.post("/inbox")
@device_route
async def upload() -> Response:
    items = parse_json(InboxUpload, await request.get_data())
    if not items:
        raise InvalidInput("batch must contain at least one message")
    if not all(item.isEncrypted for item in items):
        raise InvalidInput("inbox messages must be encrypted")
    messages = [
        IncomingMessage(item.id, item.type, item.sender, item.recipient, item.simNumber, item.content, True,
                        _milliseconds(to_utc_naive(item.createdAt)),
                        [Attachment(a.partId, a.contentType, a.name, a.size, _decoded(a.data))
                         for a in item.attachments or []])
        for item in items
    ]
    await services().inbox.insert_batch(g.device.id, messages)
    return empty(201)


def _milliseconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)  # as a datetime(3) column keeps it


def _view(message: IncomingMessage) -> dict[str, object]:
    return {
        "id": message.ext_id, "type": message.type, "sender": message.sender, "recipient": message.recipient,
        "simNumber": message.sim_number, "contentPreview": message.content, "isEncrypted": message.is_encrypted,
        "createdAt": format_time(message.created_at),
        "attachments": [{"partId": a.part_id, "name": a.name, "size": a.size or 0, "contentType": a.content_type}
                        for a in message.attachments],
    }


@thirdparty_blueprint.get("/inbox")
@user_route("inbox:list")
async def list_inbox() -> Response:
    device_id = query.device_id()
    since, until = query.timestamp("from"), query.timestamp("to")
    filter_ = InboxFilter(
        user_id=g.principal.user_id, device_id=device_id, type=query.choice("type", INBOX_TYPES),
        since=to_utc_naive(since) if since else None, until=to_utc_naive(until) if until else None,
        limit=query.integer("limit", 50, 1, MAX_LIMIT), offset=query.integer("offset", 0, 0))
    found, total = await services().inbox.search(filter_)
    return json_response([_view(m) for m in found], 200, {"X-Total-Count": str(total)})


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ ()+-]")


@thirdparty_blueprint.get("/inbox/<string:message_id>/attachments/<string:part_id>")
@user_route("inbox:read")
async def attachment(message_id: str, part_id: str) -> Response:
    if not re.fullmatch(r"[+-]?\d{1,19}", part_id) or not -(2**63) <= int(part_id) < 2**63:
        raise InvalidInput("invalid partId")
    found = await services().inbox.attachment(g.principal.user_id, message_id, int(part_id))
    if found is None:
        raise NotFound("attachment not found")
    # The name came from the phone: keep it to safe characters so it cannot break the header.
    name = _SAFE_NAME.sub("_", found.name) or "attachment"
    return Response(found.data, 200, {"Content-Type": found.content_type,
                                      "Content-Disposition": f'attachment; filename="{name}"'})
