"""Periodic tasks that run in one process at a time across every server sharing the database.

A task's lease lasts one interval: the process holding it runs the task each interval and renews
it; the others find it taken and skip. If the holder dies, the lease expires and another takes over.
So each task runs once per interval cluster-wide, never twice at the same time.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import trio

from ..domain.clock import now
from ..metrics import Metrics
from ..storage.maintenance import MaintenanceRepository

log = logging.getLogger(__name__)


@dataclass
class PeriodicTask:
    name: str
    interval: timedelta
    job: Callable[[], Awaitable[int]]  # returns how many rows it touched, for the log


def process_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.randrange(1 << 30):x}"[:64]


async def run_periodic(task: PeriodicTask, maintenance: MaintenanceRepository, owner: str,
                       first_delay: float | None = None, clock: Callable[[], datetime] = now,
                       metrics: Metrics | None = None) -> None:
    seconds = task.interval.total_seconds()
    if seconds <= 0:
        log.info("task %s disabled (interval %s)", task.name, task.interval)
        return
    # A random first delay spreads processes that start together, as upstream's worker does.
    await trio.sleep(random.uniform(0, min(seconds, 60)) if first_delay is None else first_delay)
    next_tick = trio.current_time()
    while True:
        result = "skipped"
        try:
            moment = clock()
            # The lease ends a little before the next tick so the holder can renew it without a gap.
            if await maintenance.acquire_lease(task.name, owner, moment, moment + task.interval * 0.9):
                touched = await execute(task, metrics)
                result = "ok"
                log.info("task %s ran in %s: %d rows", task.name, owner, touched)
        except Exception:  # a failed run must not end the loop; the next tick tries again
            result = "failed"
            log.exception("task %s failed", task.name)
        if metrics is not None:
            metrics.count_task(task.name, result)
        next_tick += seconds  # a fixed rate: a slow run does not push the next ones back
        await trio.sleep_until(max(next_tick, trio.current_time()))


async def execute(task: PeriodicTask, metrics: Metrics | None) -> int:
    """Runs the job with upstream's worker executor metrics: active tasks, result and duration by task."""
    if metrics is None:
        return await task.job()
    metrics.worker_active.inc()
    started, result = time.perf_counter(), "error"
    try:
        touched = await task.job()
        result = "success"
        return touched
    finally:
        metrics.worker_active.dec()
        metrics.worker_results.labels(task.name, result).inc()
        metrics.worker_duration.labels(task.name).observe(time.perf_counter() - started)
