"""The 3rd-party (integrator) API: /api/3rdparty/v1."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from pydantic_core import from_json
from quart import Blueprint, Response, g, request

from ..domain.clock import to_utc_naive
from ..domain.errors import InvalidInput, NotImplementedHere
from ..domain.ids import check_client_id
from ..domain.inbox import request_export
from ..domain.messages import SendRequest
from ..domain.models import STATES, Message
from ..storage.messages import MessageFilter
from . import query, views
from .auth import user_route
from .context import services
from .responses import empty, json_response
from .schemas import InboxRefresh, SendMessage, WebhookBody, parse_json, whole_numbers

PREFIX = "/api/3rdparty/v1"
# The longest Go time.Duration in whole hours (~292 years): upstream turns deviceActiveWithin into one.
MAX_ACTIVE_WITHIN_HOURS = 2_562_047
blueprint = Blueprint("thirdparty", __name__, url_prefix=PREFIX)


# --- messages --------------------------------------------------------------------------------------
@blueprint.post("/messages")
@blueprint.post("/message")
@user_route("messages:send")
async def send_message() -> Response:
    body = parse_json(SendMessage, await request.get_data())
    send = SendRequest(
        phone_numbers=body.phoneNumbers, ext_id=body.id or None, device_id=body.deviceId or None,
        legacy_text=body.message or None, text=body.textMessage.text if body.textMessage else None,
        data=body.dataMessage.data if body.dataMessage else None,
        port=body.dataMessage.port if body.dataMessage else None,
        mms=body.mmsMessage.content() if body.mmsMessage else None, is_encrypted=bool(body.isEncrypted),
        sim_number=body.simNumber, with_delivery_report=body.withDeliveryReport is not False,
        priority=body.priority or 0, ttl=body.ttl, valid_until=body.validUntil, schedule_at=body.scheduleAt,
    )
    message = await services().messages.send(
        g.principal.user_id, send,
        skip_phone_validation=query.flag("skipPhoneValidation"),
        device_active_within_hours=query.integer("deviceActiveWithin", 0, 0, MAX_ACTIVE_WITHIN_HOURS),
    )
    location = f"{services().public_api_path}/3rdparty/v1/messages/{quote(message.ext_id, safe='')}"
    return json_response(views.message_state(message), 202, {"Location": location})


@blueprint.get("/messages")
@blueprint.get("/message")
@user_route("messages:list")
async def list_messages() -> Response:
    device_id = query.device_id()
    since, until = query.timestamp("from"), query.timestamp("to")
    filter_ = MessageFilter(
        user_id=g.principal.user_id,
        since=to_utc_naive(since) if since else None,
        until=to_utc_naive(until) if until else None,
        state=query.choice("state", STATES),
        device_id=device_id,
        limit=query.integer("limit", 50, 1, 100),
        offset=query.integer("offset", 0, 0),
        newest_first=query.choice("sort", ("created_at", "-created_at"), "-created_at") == "-created_at",
        after=query.cursor("after"),
    )
    include_content = query.flag("includeContent")
    found, total = await services().messages.search(filter_)
    headers = {"X-Total-Count": str(total)}
    if len(found) == filter_.limit:  # keyset pagination: the next page starts after this one's last row
        headers["Link"] = _next_link(found[-1])
    return json_response([views.message_state(m, include_content) for m in found], 200, headers)


def _next_link(last: Message) -> str:
    assert last.created_at is not None and last.id is not None
    args = [(k, v) for k, v in request.args.items(multi=True) if k not in ("after", "offset")]
    args.append(("after", query.cursor_token(last.created_at, last.id)))
    return f'<{services().public_api_path}/3rdparty/v1/messages?{urlencode(args)}>; rel="next"'


@blueprint.get("/messages/<string:message_id>")
@blueprint.get("/message/<string:message_id>")
@user_route("messages:read")
async def get_message(message_id: str) -> Response:
    message_id = check_client_id("message id", message_id)
    return json_response(views.message_state(await services().messages.get(g.principal.user_id, message_id)))


@blueprint.delete("/messages/<string:message_id>")
@blueprint.delete("/message/<string:message_id>")
@user_route("messages:cancel")
async def cancel_message(message_id: str) -> Response:
    message_id = check_client_id("message id", message_id)
    return json_response(views.message_state(await services().messages.cancel(g.principal.user_id, message_id)))


@blueprint.post("/messages/inbox/export")
@blueprint.post("/message/inbox/export")
@user_route("messages:export")
async def export_inbox() -> Response:
    body = parse_json(InboxRefresh, await request.get_data())
    await request_export(services().notifier, g.principal.user_id, since=body.since, until=body.until,
                         device_id=body.deviceId, message_types=["SMS"], webhook_delivery="Individual",
                         trigger_webhooks=True)
    return json_response({}, 202, {"Deprecation": "true"})


# --- inbox (listing and attachments: api/inbox.py) and logs (the phone's local server) ------------------
@blueprint.post("/inbox/refresh")
@user_route("inbox:refresh")
async def refresh_inbox() -> Response:
    body = parse_json(InboxRefresh, await request.get_data())
    await request_export(services().notifier, g.principal.user_id, since=body.since, until=body.until,
                         device_id=body.deviceId, message_types=list(body.messageTypes or []),
                         webhook_delivery=body.webhookDelivery, trigger_webhooks=body.triggerWebhooks)
    return json_response({}, 202)


@blueprint.get("/logs")
@user_route("logs:read")
async def device_logs() -> Response:
    raise NotImplementedHere("For privacy reasons, device's logs are not accessible through Cloud server")


# --- devices -------------------------------------------------------------------------------------------
@blueprint.get("/devices")
@blueprint.get("/device")
@user_route("devices:list")
async def list_devices() -> Response:
    return json_response([views.device(d) for d in await services().accounts.list_devices(g.principal.user_id)])


@blueprint.delete("/devices/<string:device_id>")
@blueprint.delete("/device/<string:device_id>")
@user_route("devices:delete")
async def delete_device(device_id: str) -> Response:
    await services().accounts.delete_device(g.principal.user_id, check_client_id("device id", device_id))
    return empty()


# --- settings ------------------------------------------------------------------------------------------
@blueprint.get("/settings")
@user_route("settings:read")
async def get_settings() -> Response:
    return json_response(await services().settings_service.public(g.principal.user_id))


@blueprint.put("/settings")
@user_route("settings:write")
async def replace_settings() -> Response:
    document = await _json_document()
    return json_response(await services().settings_service.replace(g.principal.user_id, document))


@blueprint.patch("/settings")
@user_route("settings:write")
async def patch_settings() -> Response:
    document = await _json_document()
    return json_response(await services().settings_service.patch(g.principal.user_id, document))


async def _json_document() -> object:
    try:
        return whole_numbers(from_json(await request.get_data() or b"null"))
    except ValueError as exc:
        raise InvalidInput(f"failed to parse body: Invalid JSON: {exc}") from None


# --- webhooks ------------------------------------------------------------------------------------------
@blueprint.get("/webhooks")
@user_route("webhooks:list")
async def list_webhooks() -> Response:
    return json_response([views.webhook(w) for w in await services().webhooks.for_user(g.principal.user_id)])


@blueprint.post("/webhooks")
@user_route("webhooks:write")
async def create_webhook() -> Response:
    body = parse_json(WebhookBody, await request.get_data())
    created = await services().webhooks.create(g.principal.user_id, body.id or None, body.url, body.event,
                                               body.deviceId or None)
    return json_response(views.webhook(created), 201)


@blueprint.delete("/webhooks/<string:webhook_id>")
@user_route("webhooks:delete")
async def delete_webhook(webhook_id: str) -> Response:
    await services().webhooks.delete(g.principal.user_id, check_client_id("webhook id", webhook_id))
    return empty()
