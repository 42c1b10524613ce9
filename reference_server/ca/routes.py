"""The CA HTTP API (contract §5.1): POST /csr and GET /csr/{id}, under a prefix chosen when mounting.

Errors are JSON `{"message": "..."}`, like every other answer of our server (upstream's CA is documented to
wrap them as `{"error": {"code", "message"}}`; our `smsgate-ca` reads both).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import trio
from quart import Blueprint, Response, current_app, request

from ..api.responses import error_response, json_response
from ..storage.ca_requests import CaRequestExists
from .ratelimit import Booking, RateLimiter, retry_after_header
from .service import CaService, CsrNotFound
from .validation import RequestInvalid, parse_submission

EXTENSION = "smsgate_ca"
blueprint = Blueprint("ca", __name__)


@dataclass
class CaApi:
    """What the routes reach through `app.extensions["smsgate_ca"]`."""

    service: CaService
    limiter: RateLimiter
    proxies: list[str] = field(default_factory=list)  # trusted proxies whose X-Forwarded-For is believed


def _api() -> CaApi:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def _client_ip(proxies: list[str]) -> str:
    """The peer, or the first X-Forwarded-For hop when the peer is a trusted proxy."""
    peer = (request.remote_addr or "").strip("[]")
    forwarded = request.headers.get("X-Forwarded-For")
    if not forwarded or not proxies:
        return peer
    try:
        address = ipaddress.ip_address(peer)
        trusted = any(address in ipaddress.ip_network(proxy, strict=False) for proxy in proxies)
    except ValueError:
        return peer
    return forwarded.split(",")[0].strip() if trusted else peer


@blueprint.post("/csr")
async def submit() -> Response:
    api = _api()
    client = _client_ip(api.proxies)
    booking = await api.limiter.acquire(client)
    if not isinstance(booking, Booking):
        wait = booking
        per_minute = "1 request" if api.limiter.limit == 1 else f"{api.limiter.limit} requests"
        return error_response(429, f"too many requests: at most {per_minute} per minute, "
                                   f"try again in {retry_after_header(wait)} s",
                              {"Retry-After": retry_after_header(wait)})
    try:
        submission = parse_submission(await request.get_data())
        status = await api.service.submit(submission, client)
    except RequestInvalid as exc:
        await booking.release()
        return error_response(400, exc.message)
    except CaRequestExists:
        await booking.release()
        return error_response(409, "csr already exists")
    except BaseException:
        with trio.CancelScope(shield=True):  # a cancelled request (the client left) gives its slot back too
            await booking.release()
        raise
    return json_response(status.to_json(), 202)


@blueprint.get("/csr/<request_id>")
async def status(request_id: str) -> Response:
    try:
        found = await _api().service.get(request_id)
    except CsrNotFound:
        return error_response(404, "csr not found")
    return json_response(found.to_json())
