"""One load run from start to report: ramp the fleet, drive traffic, drain, check the server, write reports.

The first SIGINT/SIGTERM ends the traffic early and still checks, reports and summarises (the report
says `interrupted`); a second one aborts at once.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio
from rich.console import Console

from ..report import html, schema
from .check import ServerCheck
from .config import RunConfig
from .driver import Driver, make_sender
from .fleet import Account, Fleet, PhoneFactory
from .live import LiveStats
from .reporting import RunFacts, build_report
from .tracker import Tracker

INTERRUPTED_DRAIN = 2.0  # seconds to let in-flight messages finish after Ctrl-C
CHECK_PATIENCE = 10.0


@dataclass
class RunHooks:
    """What the caller may add: phones of its own making, an FCM endpoint it already serves, lines to show."""

    factory: PhoneFactory | None = None
    fcm: Any = None  # a serving simulator.phone.FcmEndpoint the server already knows
    header: list[str] = field(default_factory=list)
    handle_signals: bool = True
    console: Console | None = None
    on_ready: Callable[[list[Account]], list[str]] | None = None  # lines to show once the ramp is done
    api_transport: httpx.AsyncBaseTransport | None = None  # the 3rd-party client's transport (tests)


def phone_client(devices: int) -> httpx.AsyncClient:
    """One pool for the whole fleet: an SSE stream per phone plus requests, so twice the phones."""
    limits = httpx.Limits(max_connections=2 * devices + 64, max_keepalive_connections=devices + 64,
                          keepalive_expiry=30)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(30.0, connect=15.0, pool=60.0))


def default_factory(client: httpx.AsyncClient, fcm: Any) -> PhoneFactory:
    from ..phone import Phone

    def make(config: Any, observer: Any) -> Any:
        return Phone(config, observer, http=client, fcm=fcm)

    return make


def fcm_instructions(endpoint: Any) -> list[str]:
    return ["with --push fcm the server must send its pushes to this simulator's FCM endpoint; configure it with:",
            f"  FCM__ENDPOINT={endpoint.base_url}",
            f"  FCM__CREDENTIALS_JSON='{endpoint.service_account_json()}'"]


async def _first(*events: trio.Event) -> None:
    async with trio.open_nursery() as nursery:
        for event in events:
            async def wait(event: trio.Event = event) -> None:
                await event.wait()
                nursery.cancel_scope.cancel()
            nursery.start_soon(wait)


async def _signals(stop: trio.Event, cancel: trio.CancelScope, console: Console) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
        async for _ in received:
            if stop.is_set():
                cancel.cancel()
                raise KeyboardInterrupt
            console.print("stopping: traffic ends now, then the check and the summary (again to abort)")
            stop.set()


async def _serve_fcm(nursery: trio.Nursery, config: RunConfig, console: Console) -> Any:
    from ..phone import FcmEndpoint

    endpoint = FcmEndpoint(project_id="smsgate-sim")
    host, _, port = config.fcm_listen.rpartition(":")
    await nursery.start(endpoint.serve, host or "127.0.0.1", int(port or 0))
    for line in fcm_instructions(endpoint):
        console.print(line, highlight=False, soft_wrap=True)
    return endpoint


async def run_load(config: RunConfig, hooks: RunHooks | None = None) -> dict[str, Any]:
    """Run, write the reports the config asks for, and return the JSON report."""
    hooks = hooks or RunHooks()
    console = hooks.console or Console()
    tracker = Tracker()
    stop = trio.Event()
    async with phone_client(config.shard_devices) as phones_http, \
            httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=config.max_in_flight + 16),
                              transport=hooks.api_transport) as api:
        async with trio.open_nursery() as outer:
            if hooks.handle_signals:
                outer.start_soon(_signals, stop, outer.cancel_scope, console)
            fcm = hooks.fcm
            if config.push == "fcm" and fcm is None and hooks.factory is None:
                fcm = await _serve_fcm(outer, config, console)
            factory = hooks.factory or default_factory(phones_http, fcm)
            fleet = Fleet(config, tracker, factory)
            live = LiveStats(tracker, fleet.size, console, hooks.header, config.live)
            live.failed_phones = lambda: fleet.failed
            facts = RunFacts(finished_at=0.0, checked_at=0.0, phones_planned=fleet.size)
            async with trio.open_nursery() as phones:
                phones.start_soon(fleet.run)
                outer.start_soon(live.run)
                ramp_began = time.time()
                await _first(fleet.ramped, stop)
                facts.ramp_seconds = round(time.time() - ramp_began, 2)
                if hooks.on_ready is not None:
                    for line in hooks.on_ready(fleet.usable_accounts()):
                        live.header.append(line)
                        if not live.live:
                            console.print(line, highlight=False, soft_wrap=True)
                driver = Driver(config, tracker, make_sender(api, config))
                if not stop.is_set():
                    live.phase = "traffic"
                    await driver.run(fleet.usable_accounts(), stop)
                live.phase = "draining"
                await _drain(config, tracker, driver, stop)
                live.phase = "checking"
                check = ServerCheck(api, config, tracker)
                await check.run(fleet.usable_accounts(), patience=2.0 if stop.is_set() else CHECK_PATIENCE)
                facts.checked_at = time.time()
                live.phase = "done"
                phones.cancel_scope.cancel()
            outer.cancel_scope.cancel()
    facts.finished_at = time.time()
    facts.interrupted = stop.is_set()
    facts.phones_started, facts.phones_failed = fleet.started, fleet.failed
    facts.scheduled, facts.late = driver.scheduled, driver.late
    facts.check_requests, facts.check_errors = check.requests, check.errors
    report = build_report(config, tracker, facts)
    if config.report:
        schema.write(report, config.report)
    if config.html:
        html.write(report, config.html)
    return report


async def _drain(config: RunConfig, tracker: Tracker, driver: Driver, stop: trio.Event) -> None:
    """Until every accepted message is final on its phone, or the grace period after the last send is over
    (a couple of seconds only once the run is being stopped)."""
    last = driver.last_send_at or time.time()
    deadline = trio.current_time() + max(0.0, last + config.grace - time.time()) + 0.1
    while tracker.in_flight() and trio.current_time() < deadline:
        if stop.is_set():
            deadline = min(deadline, trio.current_time() + INTERRUPTED_DRAIN)
            await trio.sleep(0.25)
            continue
        with trio.move_on_after(0.25):
            await stop.wait()
