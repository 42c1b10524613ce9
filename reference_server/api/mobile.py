"""The mobile (device) API: /api/mobile/v1. What the Android app calls."""

from __future__ import annotations

import logging
from typing import Any

from pydantic_core import from_json, to_json
from quart import Blueprint, Response, g, request

from ..domain.accounts import private_token_matches
from ..domain.clock import format_time
from ..domain.errors import NotAuthenticated
from ..domain.models import STATES, DeviceKey, Recipient, SimCard, StateReport
from . import query, views
from .auth import authorization, basic_user, device_route, guarded_login, optional_device
from .context import client_ip, services
from .responses import empty, json_response
from .schemas import ChangePassword, RegisterDevice, SimCardBody, StateReports, UpdateDevice, parse_json

PREFIX = "/api/mobile/v1"
log = logging.getLogger(__name__)
blueprint = Blueprint("mobile", __name__, url_prefix=PREFIX)


def _sim_cards(cards: list[SimCardBody] | None) -> list[SimCard]:
    return [SimCard(c.slotIndex, c.simNumber, c.phoneNumber, c.carrierName, c.iccid) for c in cards or []]


async def _registering_user() -> str | None:
    """The existing user a new device joins, or None for a new user; raises 401 when not allowed."""
    accounts, gateway = services().accounts, services().settings.gateway
    scheme, credentials = authorization()
    if scheme == "basic":
        return await basic_user(credentials)
    if scheme == "code":
        async def redeem() -> str:
            return await accounts.redeem_code(credentials)

        return await guarded_login(redeem)
    if gateway.mode == "public":
        return None  # anyone may register; a Bearer header is ignored, as upstream does
    if scheme != "bearer" or not credentials:
        raise NotAuthenticated("missing or malformed API Key")

    async def private_token() -> None:
        if not private_token_matches(credentials, gateway.private_token):
            raise NotAuthenticated("Invalid or expired API Key")

    await guarded_login(private_token)
    return None


@blueprint.post("/device")
async def register_device() -> Response:
    if authorization()[0] == "code":  # validate first: redeeming consumes the one-time code
        body = parse_json(RegisterDevice, await request.get_data())
        user_id = await _registering_user()
    else:
        user_id = await _registering_user()
        body = parse_json(RegisterDevice, await request.get_data())
    registration = await services().accounts.register(user_id, body.name, body.pushToken, _sim_cards(body.simCards),
                                                      DeviceKey(body.publicKey, body.keyVersion))
    answer = {"id": registration.device.id, "token": registration.device.auth_token, "login": registration.login}
    if registration.password is not None:
        answer["password"] = registration.password
    return json_response(answer, 201)


@blueprint.get("/device")
async def device_info() -> Response:
    device = await optional_device()
    answer: dict[str, object] = {"externalIp": client_ip()}
    if device is not None:
        answer["device"] = views.device(device)
    return json_response(answer)


@blueprint.patch("/device")
@device_route
async def update_device() -> Response:
    body = parse_json(UpdateDevice, await request.get_data())
    await services().accounts.update_device(g.device, body.id, body.pushToken, _sim_cards(body.simCards),
                                            DeviceKey(body.publicKey, body.keyVersion))
    return empty()


@blueprint.get("/user/code")
async def user_code() -> Response:
    scheme, credentials = authorization()
    if scheme != "basic":
        raise NotAuthenticated("Unauthorized")
    user_id = await basic_user(credentials)
    code, valid_until = await services().accounts.issue_code(user_id)
    return json_response({"code": code, "validUntil": format_time(valid_until)})


@blueprint.patch("/user/password")
@device_route
async def change_password() -> Response:
    body = parse_json(ChangePassword, await request.get_data())

    async def change() -> None:  # a wrong current password is a failed login: it counts toward the limit
        await services().accounts.change_password(g.device.user_id, body.currentPassword, body.newPassword)

    await guarded_login(change)
    return empty()


@blueprint.get("/message")
@blueprint.get("/messages")
@device_route
async def pending_messages() -> Response:
    order = query.choice("order", ("lifo", "fifo"), "lifo")
    found = await services().messages.pending(g.device, fifo=order == "fifo")
    return json_response([views.mobile_message(m) for m in found])


def _names_unknown_state(item: object) -> bool:
    if not isinstance(item, dict):
        return False
    recipients = item.get("recipients")
    named = [item.get("state"), *(r.get("state") for r in recipients if isinstance(r, dict))] \
        if isinstance(recipients, list) else [item.get("state")]
    named += list(item["states"]) if isinstance(item.get("states"), dict) else []
    return any(isinstance(state, str) and state not in STATES for state in named)


def _as_known(item: dict[str, Any]) -> dict[str, Any]:
    """The item with each unknown state read as a known one, so that everything else in it is still validated."""
    def known(state: object) -> object:
        return "Pending" if isinstance(state, str) and state not in STATES else state

    item = {**item, "state": known(item.get("state"))}
    if isinstance(item.get("recipients"), list):
        item["recipients"] = [{**r, "state": known(r.get("state"))} if isinstance(r, dict) else r
                              for r in item["recipients"]]
    if isinstance(item.get("states"), dict):
        spare = iter([state for state in STATES if state not in item["states"]])
        item["states"] = {key if key in STATES else next(spare, key): value for key, value in item["states"].items()}
    return item


def _unknown_states_read_as_known(raw: str | bytes) -> tuple[str | bytes, set[int]]:
    """The body with unknown states read as known ones, and the indexes of the items that named one.

    As upstream, where such an item fails at its database write only: a phone's report is never lost over one
    odd state, and the item is skipped (logged). Any other fault, in any item, still refuses the batch (400).
    """
    try:
        document = from_json(raw or b"null")
    except ValueError:
        return raw, set()  # parse_json answers 400
    if not isinstance(document, list):
        return raw, set()
    unknown = {index for index, item in enumerate(document) if _names_unknown_state(item)}
    for index in sorted(unknown):
        log.warning("device %s: state report for message %r skipped: unknown state", g.device.id,
                    str(document[index].get("id"))[:64])
    if not unknown:
        return raw, unknown
    return to_json([_as_known(item) if index in unknown else item for index, item in enumerate(document)]), unknown


@blueprint.patch("/message")
@blueprint.patch("/messages")
@device_route
async def report_states() -> Response:
    body, skipped = _unknown_states_read_as_known(await request.get_data())
    parsed = parse_json(StateReports, body)
    items = [item for index, item in enumerate(parsed) if index not in skipped]
    reports = [
        StateReport(ext_id=item.id, state=item.state,
                    recipients=[Recipient(r.phoneNumber, r.state, r.error) for r in item.recipients],
                    states=dict(item.states or {}))
        for item in items
    ]
    await services().messages.report(g.device, reports)
    return empty()


@blueprint.get("/webhooks")
@device_route
async def device_webhooks() -> Response:
    found = await services().webhooks.for_device(g.device.user_id, g.device.id)
    return json_response([views.webhook(w) for w in found])


@blueprint.get("/settings")
@device_route
async def device_settings() -> Response:
    return json_response(await services().settings_service.for_device(g.device.user_id))


@blueprint.get("/events")
@device_route
async def device_events() -> Response:
    """Server-Sent Events for this device (used when it has no push token); streams until closed."""
    events = services().events
    return events.sse.response(g.device.id, events.keep_alive)
