"""One load run from start to report: ramp the fleet, drive traffic, drain, check the server, write reports.

The first SIGINT/SIGTERM ends the traffic early and still checks, reports and summarises (the report
says `interrupted`); a second one aborts at once.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio
from rich.console import Console

from ..report import csvfiles, html, schema
from . import inbound as inbound_traffic
from .apis import ApiWatch
from .check import ServerCheck
from .config import RunConfig
from .driver import Driver, make_sender
from .fleet import Account, Fleet, PhoneFactory
from .live import LiveStats
from .reporting import RunFacts, build_report
from .tracker import Tracker

INTERRUPTED_DRAIN = 2.0  # seconds to let in-flight messages finish after Ctrl-C
CHECK_PATIENCE = 10.0
SIGNAL_ECHO = 1.0  # a second signal sooner than this after the first is the same request, not "abort"


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


class PhoneClients:
    """The fleet's HTTP pools: one httpx.AsyncClient per `per_client` phones.

    A single pool for a thousand phones costs more CPU than the phones themselves: httpcore scans
    every pooled connection (each phone keeps one open for SSE) on every request, so the work
    grows with the square of the fleet. Small shared pools keep it linear.
    """

    def __init__(self, per_client: int = 25, watch: ApiWatch | None = None) -> None:
        self.per_client = per_client
        self.clients: dict[int, httpx.AsyncClient] = {}
        self.hooks = {"response": [watch.response]} if watch is not None else {}

    def for_phone(self, number: int) -> httpx.AsyncClient:
        group = number // self.per_client
        if group not in self.clients:
            limits = httpx.Limits(max_connections=3 * self.per_client, max_keepalive_connections=2 * self.per_client,
                                  keepalive_expiry=30)
            self.clients[group] = httpx.AsyncClient(limits=limits, event_hooks=self.hooks,
                                                    timeout=httpx.Timeout(30.0, connect=15.0, pool=60.0))
        return self.clients[group]

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()


def default_factory(clients: PhoneClients, fcm: Any, webhook_http: httpx.AsyncClient | None = None) -> PhoneFactory:
    from ..phone import Phone

    def make(config: Any, observer: Any, number: int) -> Any:
        phone = Phone(config, observer, http=clients.for_phone(number), fcm=fcm)
        phone.webhook_http = webhook_http
        return phone

    return make


def fcm_instructions(endpoint: Any) -> list[str]:
    return ["with --push fcm the server must send its pushes to this simulator's FCM endpoint (its key is new on "
            "every run); start the server with:",
            f"  FCM__ENDPOINT={endpoint.base_url}",
            f"  FCM__CREDENTIALS_JSON='{endpoint.service_account_json()}'"]


async def _first(*events: trio.Event) -> None:
    async with trio.open_nursery() as nursery:
        for event in events:
            async def wait(event: trio.Event = event) -> None:
                await event.wait()
                nursery.cancel_scope.cancel()
            nursery.start_soon(wait)


def find_error(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """`exc` itself or the first `kind` inside Trio's exception groups; None when there is none."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = find_error(inner, kind)
            if found is not None:
                return found
        return None
    return exc if isinstance(exc, kind) else None


async def _signals(stop: trio.Event, cancel: trio.CancelScope, console: Console) -> None:
    first_at = 0.0
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
        async for _ in received:
            if stop.is_set():
                if trio.current_time() - first_at < SIGNAL_ECHO:
                    continue  # the same Ctrl-C delivered twice (a wrapper forwarding it to its group)
                cancel.cancel()
                raise KeyboardInterrupt
            first_at = trio.current_time()
            console.print("stopping: traffic ends now, then the check and the summary (again to abort)")
            stop.set()


async def _serve_fcm(nursery: trio.Nursery, config: RunConfig, console: Console) -> Any:
    from ..phone import FcmEndpoint

    endpoint = FcmEndpoint(project_id="smsgate-sim")
    host, _, port = config.fcm_listen.rpartition(":")
    await nursery.start(endpoint.serve, host or "127.0.0.1", int(port or 0))
    for line in fcm_instructions(endpoint):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if sys.stdin is not None and sys.stdin.isatty():
        console.print("press Enter once the server runs with these settings", highlight=False, markup=False)
        await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
    return endpoint


async def _preflight(api: httpx.AsyncClient, config: RunConfig) -> None:
    """Fail at once when nothing answers at the server's URL (phones would retry registering for minutes)."""
    try:
        await api.get(config.third_party_url + "/health", timeout=10)
    except httpx.HTTPError as exc:
        raise RuntimeError(f"no SMSGate server answers at {config.base_url}: {exc!r}") from exc


async def run_load(config: RunConfig, hooks: RunHooks | None = None) -> dict[str, Any]:
    """Run, write the reports the config asks for, and return the JSON report."""
    hooks = hooks or RunHooks()
    console = hooks.console or Console()
    tracker = Tracker()
    stop = trio.Event()
    watch = ApiWatch(config.mobile_url, config.third_party_url)
    clients = PhoneClients(watch=watch)
    async with AsyncExitStack() as stack, \
            httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=config.max_in_flight + 16),
                              transport=hooks.api_transport, event_hooks={"response": [watch.response]}) as api:
        async with trio.open_nursery() as outer:
            if hooks.handle_signals:
                outer.start_soon(_signals, stop, outer.cancel_scope, console)
            fcm = hooks.fcm
            if config.push == "fcm" and fcm is None and hooks.factory is None:
                fcm = await _serve_fcm(outer, config, console)
            await _preflight(api, config)
            stack.push_async_callback(clients.aclose)
            inbound = inbound_traffic.InboundTracker() if config.inbound_rate else None
            webhook_url, webhook_http = config.webhook_url, None
            if inbound is not None and webhook_url is None:
                receiver = inbound_traffic.Receiver(inbound)
                host, _, port = config.webhook_listen.rpartition(":")
                await outer.start(receiver.serve, host or "127.0.0.1", int(port or 0))
                webhook_url, webhook_http = receiver.url, receiver.client()
                stack.push_async_callback(webhook_http.aclose)
            factory = hooks.factory or default_factory(clients, fcm, webhook_http)
            fleet = Fleet(config, tracker, factory, inbound)
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
                            console.print(line, highlight=False, markup=False, soft_wrap=True)
                driver = Driver(config, tracker, make_sender(api, config))
                no_phone = not fleet.usable_accounts() and config.stages is None
                if no_phone:  # nothing to send to: the report says why (registration errors), red
                    console.print("no phone could register: no traffic; the report follows", highlight=False,
                                  markup=False)
                if inbound is not None and webhook_url and not stop.is_set():
                    for error in await inbound_traffic.register_webhooks(api, config.third_party_url,
                                                                         fleet.usable_accounts(), webhook_url):
                        tracker.error("", "webhooks", error)
                    await inbound_traffic.hooks_ready(fleet.running_phones)
                if not stop.is_set() and not no_phone:
                    live.phase = "traffic"
                    async with trio.open_nursery() as traffic:
                        if inbound is not None:
                            traffic.start_soon(inbound_traffic.generate, inbound,
                                               config.inbound_rate / config.shard.count, config.duration,
                                               fleet.running_phones, f"in{config.shard.index}-{driver.run_tag}", stop)
                        staged = config.stages is not None  # phones come and go: ask at each send
                        await driver.run(fleet.online_accounts if staged else fleet.usable_accounts(), stop)
                live.phase = "draining"
                await _drain(config, tracker, driver, stop)
                if inbound is not None:
                    await inbound_traffic.drain(inbound, config.grace, stop)
                live.phase = "checking"
                check = ServerCheck(api, config, tracker)
                await check.run(fleet.usable_accounts(), patience=2.0 if stop.is_set() else CHECK_PATIENCE)
                facts.checked_at = time.time()
                await watch.probe_alternatives(api)
                live.phase = "done"
                phones.cancel_scope.cancel()
            outer.cancel_scope.cancel()
    facts.finished_at = time.time()
    facts.interrupted = stop.is_set()
    facts.phones_started, facts.phones_failed = fleet.started, fleet.failed
    facts.scheduled, facts.late, facts.skipped = driver.scheduled, driver.late, driver.skipped
    if inbound is not None:
        facts.inbound = inbound.section(config.inbound_rate / config.shard.count, config.webhook_url is None)
    facts.check_requests, facts.check_errors = check.requests, check.errors
    facts.apis = watch.section()
    facts.phones_offline = tracker.phones_offline(facts.checked_at)
    report = build_report(config, tracker, facts)
    if config.report:
        schema.write(report, config.report)
    if config.html:
        html.write(report, config.html)
    if config.csv:
        csvfiles.write(report, config.csv)
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
