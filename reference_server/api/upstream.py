"""The push relay a private server calls (public mode only): POST /api/upstream/v1/push."""

from __future__ import annotations

import math
from collections import deque

import trio
from quart import Blueprint, Response, request

from ..domain.errors import InvalidInput, NotFound
from ..events.notifier import DeviceEvent
from .context import client_ip, services
from .responses import error_response, json_response
from .schemas import PushItems, parse_json

PREFIX = "/api/upstream/v1"
blueprint = Blueprint("upstream", __name__, url_prefix=PREFIX)


class SlidingWindowLimiter:
    """At most `limit` hits per `window` seconds per key (Trio's clock, so MockClock works)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        moment = trio.current_time()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= moment - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(moment)
        return True

    def retry_after(self, key: str) -> int:
        """Whole seconds until `key` may hit again (its oldest hit leaves the window)."""
        hits = self._hits.get(key)
        return max(1, math.ceil(hits[0] + self.window - trio.current_time())) if hits else 1


@blueprint.before_request
async def served_in_public_mode_only() -> None:
    """A private server relays its own pushes and relays nobody else's: there the route answers 404 (declared
    in the spec) while an undeclared method still gets 405, as everywhere."""
    if services().settings.gateway.mode != "public":
        raise NotFound("Not Found")


@blueprint.post("/push")
async def push() -> Response:
    limiter, client = services().upstream_limiter, client_ip()
    if not limiter.allow(client):
        return error_response(429, "Too Many Requests", {"Retry-After": str(limiter.retry_after(client))})
    items = parse_json(PushItems, await request.get_data())
    if not items:
        raise InvalidInput("Empty request")
    for item in items:
        await services().push_sink.enqueue(item.token, DeviceEvent(item.event, item.data))
    return json_response({}, 202)
