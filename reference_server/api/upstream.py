"""The push relay a private server calls (public mode only): POST /api/upstream/v1/push."""

from __future__ import annotations

import math

from quart import Blueprint, Response, request

from ..domain.errors import InvalidInput, NotFound
from ..domain.shared_state import LimitCounters, SharedState
from ..events.notifier import DeviceEvent
from .context import client_ip, services
from .responses import error_response, json_response
from .schemas import PushItems, parse_json

PREFIX = "/api/upstream/v1"
blueprint = Blueprint("upstream", __name__, url_prefix=PREFIX)


class RelayLimiter:
    """At most `limit` relay requests per `window` seconds per client IP (upstream's public relay: 5 a minute).

    The counts live in the shared state (`cache.url`), so every process of a deployment counts toward one limit
    (a count per process let N processes relay N times as much); a window opens at a client's first request
    (a fixed window, as upstream's limiter) and the 429 says in Retry-After when it ends. While the shared state
    is unreachable, each process counts on its own (a limit per process beats none)."""

    def __init__(self, limit: int, window: float, state: SharedState | None = None) -> None:
        self.limit = limit
        self.window = window
        self.counters = LimitCounters(state)

    async def wait_needed(self, client: str) -> float | None:
        """Count one request of `client`: None when it may go on, else the seconds until its window ends."""
        count, left, _ = await self.counters.hit(f"relay:{client}", self.window)
        return None if count <= self.limit else left


@blueprint.before_request
async def served_in_public_mode_only() -> None:
    """A private server relays its own pushes and relays nobody else's: there the route answers 404 (declared
    in the spec) while an undeclared method still gets 405, as everywhere."""
    if services().settings.gateway.mode != "public":
        raise NotFound("Not Found")


@blueprint.post("/push")
async def push() -> Response:
    wait = await services().upstream_limiter.wait_needed(client_ip())
    if wait is not None:
        return error_response(429, "Too Many Requests", {"Retry-After": str(max(1, math.ceil(wait)))})
    items = parse_json(PushItems, await request.get_data())
    if not items:
        raise InvalidInput("Empty request")
    for item in items:
        await services().push_sink.enqueue(item.token, DeviceEvent(item.event, item.data))
    return json_response({}, 202)
