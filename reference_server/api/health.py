"""Health routes (RFC-draft health+json shape, as upstream): live, ready, startup. No authentication."""

from __future__ import annotations

import resource
import sys
from typing import Any

from quart import Blueprint, Response

from .context import services
from .responses import json_response

blueprint = Blueprint("health", __name__)

MEMORY_WARN_MIB = 512


def _answer(checks: dict[str, dict[str, Any]]) -> Response:
    statuses = {check["status"] for check in checks.values()}
    status = "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"
    body: dict[str, Any] = {"status": status, "version": services().version}
    if checks:
        body["checks"] = checks
    return json_response(body, 503 if status == "fail" else 200)


async def _readiness() -> Response:
    state = services()
    if await state.db.ping(state.settings.health.timeout.total_seconds()):
        state.failed_pings = 0
    else:
        state.failed_pings += 1
    return _answer({"db:ping": {
        "description": "Database ping", "observedUnit": "failed pings", "observedValue": state.failed_pings,
        "status": "pass" if state.failed_pings == 0 else "fail",
    }})


@blueprint.get("/health")
async def health() -> Response:
    return await _readiness()


@blueprint.get("/health/ready")
async def ready() -> Response:
    return await _readiness()


@blueprint.get("/health/live")
async def live() -> Response:
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mib = max_rss / (1024 * 1024) if sys.platform == "darwin" else max_rss / 1024
    return _answer({"system:memory": {
        "description": "Peak resident memory", "observedUnit": "MiB", "observedValue": round(mib, 1),
        "status": "warn" if mib > MEMORY_WARN_MIB else "pass",
    }})


@blueprint.get("/health/startup")
async def startup() -> Response:
    return _answer({})
