"""Health routes (RFC-draft health+json shape, as upstream): live, ready, startup. No authentication.

Upstream's check set: readiness `db:ping`; liveness `system:goroutines` and `system:memory`; startup none.
Each value is an integer, as upstream's `observedValue` is.
"""

from __future__ import annotations

import os
import resource
import sys
from typing import Any

import trio
from quart import Blueprint, Response

from .context import services
from .responses import json_response

blueprint = Blueprint("health", __name__)

MEMORY_WARN_MIB = 512  # upstream warns above 128 MiB of Go heap; a Python process starts near 100 MiB
TASKS_WARN = 1000  # upstream warns above 100 goroutines; Hypercorn runs several Trio tasks per connection


def _answer(checks: dict[str, dict[str, Any]]) -> Response:
    statuses = {check["status"] for check in checks.values()}
    status = "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"
    state = services()
    body: dict[str, Any] = {"status": status, "version": state.version}
    if state.settings.health.release_id:
        body["releaseId"] = state.settings.health.release_id
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


def _resident_mib() -> int:
    """Current resident memory (Linux: /proc/self/statm); elsewhere the peak."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024)
    except (OSError, ValueError, IndexError):
        max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(max_rss / (1024 * 1024) if sys.platform == "darwin" else max_rss / 1024)


def _task_count() -> int:
    root = trio.lowlevel.current_root_task()
    pending, count = [root] if root is not None else [], 0
    while pending:
        task = pending.pop()
        count += 1
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return count


@blueprint.get("/health/live")
async def live() -> Response:
    mib, tasks = _resident_mib(), _task_count()
    return _answer({
        "system:goroutines": {"description": "Number of Trio tasks (goroutines upstream)", "observedUnit": "tasks",
                              "observedValue": tasks, "status": "warn" if tasks > TASKS_WARN else "pass"},
        "system:memory": {"description": "Memory usage", "observedUnit": "MiB", "observedValue": mib,
                          "status": "warn" if mib > MEMORY_WARN_MIB else "pass"},
    })


@blueprint.get("/health/startup")
async def startup() -> Response:
    return _answer({})
