"""Simulated phones for the bench, in a process of their own: `python -m simulator.bench.fleet SPEC_JSON`.

* `e2e`: N phones (SSE, zero radio latency) in accounts; the first phone of each account registers, the
  others join with its login and password (one bcrypt per account). Then messages go out through the
  3rd-party API at each rate of a schedule; one JSON line per step: throughput, send -> Processed / Sent /
  Delivered percentiles, lost and stuck.
* `idle`: N phones started from known registrations (as the app restarts), SSE held; one JSON line once
  all are connected (memory per phone), then they stay until the process is stopped.
* `bare`: N bare httpx SSE streams held on the same pools: what a phone costs at the least.
With `"trace": FRAMES` in the spec, `idle` and `bare` also report tracemalloc's bytes per phone (stream) and the
largest allocation groups (`python -m simulator.bench.memory` runs both that way).
"""

from __future__ import annotations

import gc
import json
import math
import ssl
import sys
import time
import tracemalloc
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import trio

from ..phone import Phone, PhoneConfig, RadioConfig, Registration
from .procs import GC_THRESHOLDS, cpu_seconds, raise_nofile, rss_bytes, settle

MOBILE = "/api/mobile/v1"
SEND = "/api/3rdparty/v1/messages"
SHARED_POOL = 10  # idle phones per httpx pool
SOURCES = 8  # loopback source addresses
SENDERS = 16  # the driver's pools, 16 connections each (a pool polls its idle connections on each request)
DRAIN = 8.0  # seconds after a step for its messages to finish
# The phones are long-lived, hundreds of thousands of objects: each full collection that walked them all stalled
# every phone for some 300 ms (measured by gc.callbacks), a delay the bench would have charged to the server. So
# `settle()` runs between steps (never within one) and every SETTLE_EVERY idle phones started.
SETTLE_EVERY = 2000
KEEP_ALIVE = 300.0  # OkHttp's idle keep-alive (httpx's default of 5 s made phones reconnect for most messages)
SHORT_KEEP_ALIVE = 5.0  # httpx's default


def emit(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


class Pools:
    """Small httpx pools sharing one TLS context: each client would otherwise load the CA bundle for itself
    (about a megabyte and some milliseconds each: a gigabyte for 10,000 phones); with it a client costs some 7 KB.

    End to end each phone has a pool of its own, as each app has its own OkHttp pool, kept alive as long as
    OkHttp keeps it (5 min): pools shared by ten phones cost a tenth of the simulator's CPU there, as httpcore
    polls every idle connection of a pool on each request. Idle phones share pools ten by ten with httpx's
    5-s keep-alive: a connection kept per phone beside its stream would take 20,000 descriptors for 10,000
    phones, the whole hard limit of the bench machine.
    """

    def __init__(self, server: str, per_client: int = 1, keep_alive: float = KEEP_ALIVE) -> None:
        self.loopback = httpx.URL(server).host in ("127.0.0.1", "localhost")
        self.clients: dict[int, httpx.AsyncClient] = {}
        self.tls = ssl.create_default_context()
        self.per_client = per_client
        # Shared (idle) pools keep at most one connection per two phones: a registered phone opens four at once at
        # start-up (as the app does), and an idle pool never runs the expiry that would close them again.
        keep = 3 if per_client == 1 else max(1, per_client // 2)
        self.limits = httpx.Limits(max_connections=4 * per_client, max_keepalive_connections=keep,
                                   keepalive_expiry=keep_alive)

    def for_phone(self, number: int) -> httpx.AsyncClient:
        group = number // self.per_client
        if group not in self.clients:
            # Source addresses rotate over 127.0.0.1-8 for a server on loopback: with one, each connect had the
            # kernel search a crowded ephemeral port range, a quarter of the idle phones' CPU.
            source = f"127.0.0.{1 + group % SOURCES}" if self.loopback else None
            transport = httpx.AsyncHTTPTransport(verify=self.tls, limits=self.limits, local_address=source)
            self.clients[group] = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(60.0, pool=120.0))
        return self.clients[group]

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()


@dataclass
class Observer:
    """Times (time.time()) at which phones reached each state of each message, and SSE connections."""

    states: dict[str, dict[str, float]] = field(default_factory=dict)
    online: set[str] = field(default_factory=set)
    errors: int = 0

    def registered(self, device_id: str) -> None:
        pass

    def connected(self, device_id: str, transport: str) -> None:
        self.online.add(device_id)

    def disconnected(self, device_id: str, transport: str) -> None:
        self.online.discard(device_id)

    def message_state(self, device_id: str, message_id: str, state: str, at: datetime) -> None:
        self.states.setdefault(message_id, {}).setdefault(state, time.time())

    def error(self, device_id: str, where: str, detail: str) -> None:
        self.errors += 1


def phone_config(server: str, number: int, registration: str = "anonymous", login: str | None = None,
                 password: str | None = None) -> PhoneConfig:
    return PhoneConfig(server=server + MOBILE, name=f"bench/phone-{number}", registration=registration,  # type: ignore[arg-type]
                       login=login, password=password, seed=number,
                       radio=RadioConfig(sent_latency=(0.0, 0.0), delivered_latency=(0.0, 0.0), seed=number))


async def start_accounts(server: str, phones: int, per_account: int, pools: Pools, observer: Observer,
                         nursery: trio.Nursery) -> list[tuple[str, str]]:
    """Start every phone; returns the accounts' (login, password)."""
    accounts: list[tuple[str, str]] = []
    limiter = trio.CapacityLimiter(32)

    async def start(phone: Phone) -> None:
        async with limiter:
            await nursery.start(phone.run)

    async def account(first_number: int, size: int) -> None:
        first = Phone(phone_config(server, first_number), observer, http=pools.for_phone(first_number))
        await start(first)
        assert first.registration is not None
        login, password = first.registration.login, first.registration.password or ""
        accounts.append((login, password))
        async with trio.open_nursery() as joiners:
            for number in range(first_number + 1, first_number + size):
                phone = Phone(phone_config(server, number, "basic", login, password), observer,
                              http=pools.for_phone(number))
                joiners.start_soon(start, phone)

    async with trio.open_nursery() as group:
        for first_number in range(0, phones, per_account):
            group.start_soon(account, first_number, min(per_account, phones - first_number))
    return accounts


def _percentiles(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)

    def at(share: float) -> float | None:
        if not ordered:
            return None
        return round(ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)] * 1000, 1)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "count": len(ordered)}


async def drive(server: str, accounts: list[tuple[str, str]], rate: float, seconds: float, tag: str,
                sent: dict[str, float], accepted: set[str], failures: list[str]) -> int:
    """POST messages at `rate` for `seconds`, each on its own task, round robin over the accounts."""
    auths = [httpx.BasicAuth(login, password) for login, password in accounts]
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    tls = ssl.create_default_context()
    clients = [httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(30.0, pool=60.0), verify=tls)
               for _ in range(SENDERS)]
    async with AsyncExitStack() as stack, trio.open_nursery() as nursery:
        for client in clients:
            await stack.enter_async_context(client)

        async def one(sequence: int) -> None:
            message_id = f"{tag}-{sequence}"
            body = {"id": message_id, "textMessage": {"text": f"bench {message_id}"},
                    "phoneNumbers": [f"+7999{sequence % 10_000_000:07d}"]}
            sent[message_id] = time.time()
            try:
                answer = await clients[sequence % SENDERS].post(server + SEND, json=body,
                                                                auth=auths[sequence % len(auths)])
            except httpx.HTTPError as exc:
                failures.append(f"{type(exc).__name__}")
                return
            if answer.status_code == 202:
                accepted.add(message_id)
            else:
                failures.append(str(answer.status_code))

        begin = trio.current_time()
        count = int(rate * seconds)
        for sequence in range(count):
            await trio.sleep_until(begin + sequence / rate)
            nursery.start_soon(one, sequence)
    return count


async def e2e(spec: dict[str, Any]) -> None:
    server = spec["server"]
    observer = Observer()
    pools = Pools(server)
    async with trio.open_nursery() as nursery:
        began = time.time()
        accounts = await start_accounts(server, spec["phones"], spec["phones_per_account"], pools, observer, nursery)
        with trio.move_on_after(60):
            while len(observer.online) < spec["phones"]:  # noqa: ASYNC110
                await trio.sleep(0.2)
        emit({"event": "ready", "phones": spec["phones"], "online": len(observer.online),
              "accounts": len(accounts), "seconds": round(time.time() - began, 1)})
        settle()
        for step, rate in enumerate(spec["rates"]):
            sent: dict[str, float] = {}
            accepted: set[str] = set()
            failures: list[str] = []
            cpu0, wall0 = cpu_seconds_self(), time.time()
            await drive(server, accounts, rate, spec["step_seconds"], f"s{step}", sent, accepted, failures)
            send_end = time.time()
            with trio.move_on_after(DRAIN):
                while any("Delivered" not in observer.states.get(m, {}) for m in accepted):  # noqa: ASYNC110
                    await trio.sleep(0.2)
            figures = step_figures(rate, sent, accepted, failures, observer, wall0, send_end,
                                   (cpu_seconds_self() - cpu0) / max(1e-9, time.time() - wall0))
            emit(figures)
            p99 = figures["latency_ms"]["Sent"]["p99"]
            if figures["lost"] or p99 is None or p99 >= spec["latency_limit"] * 1000:
                break  # a higher rate will not do better
            settle()
            await trio.sleep(1.0)
        nursery.cancel_scope.cancel()
    await pools.aclose()


def cpu_seconds_self() -> float:
    return cpu_seconds(_pid())


def _pid() -> int:
    import os

    return os.getpid()


def step_figures(rate: float, sent: dict[str, float], accepted: set[str], failures: list[str], observer: Observer,
                 begin: float, send_end: float, cpu_share: float) -> dict[str, Any]:
    latencies: dict[str, list[float]] = {"Processed": [], "Sent": [], "Delivered": []}
    delivered_at = []
    lost = stuck = 0
    for message_id in accepted:
        reached = observer.states.get(message_id, {})
        for state, values in latencies.items():
            if state in reached:
                values.append(reached[state] - sent[message_id])
        if "Delivered" in reached:
            delivered_at.append(reached["Delivered"])
        elif reached:
            stuck += 1
        else:
            lost += 1
    span = (max(delivered_at) - begin) if delivered_at else 0.0
    return {"event": "step", "rate": rate, "sent": len(sent), "accepted": len(accepted), "rejected": len(failures),
            "rejections": sorted(set(failures))[:5], "delivered": len(delivered_at),
            "delivered_per_second": round(len(delivered_at) / span, 1) if span else 0.0,
            "send_seconds": round(send_end - begin, 2), "lost": lost, "stuck": stuck,
            "latency_ms": {state: _percentiles(values) for state, values in latencies.items()},
            "phone_errors": observer.errors, "simulator_cpu_share": round(cpu_share, 3)}


def _registrations(path: str, count: int) -> list[dict[str, str]]:
    with open(path) as file:
        return list(json.load(file))[:count]


async def idle(spec: dict[str, Any]) -> None:
    """Phones from known registrations; report once every SSE stream is open, then hold them."""
    server = spec["server"]
    registrations = _registrations(spec["registrations"], spec["phones"])
    observer = Observer()
    pools = Pools(server, SHARED_POOL, SHORT_KEEP_ALIVE)
    base = rss_bytes(_pid())
    traced = _trace_start(spec)
    began = time.time()
    async with trio.open_nursery() as nursery:
        limiter = trio.CapacityLimiter(64)

        async def start(number: int, item: dict[str, str]) -> None:
            phone = Phone(phone_config(server, number, "basic", item["login"], item["password"]), observer,
                          http=pools.for_phone(number))
            phone.registration = Registration(item["id"], item["token"], item["login"])
            async with limiter:
                await nursery.start(phone.run)

        for number, item in enumerate(registrations):
            nursery.start_soon(start, number, item)
        settled = 0
        with trio.move_on_after(spec.get("within", 300)):
            while len(observer.online) < len(registrations):
                await trio.sleep(0.5)
                if len(observer.online) - settled >= SETTLE_EVERY:  # each full collection would walk them all
                    settled = len(observer.online)
                    settle()
        await trio.sleep(2.0)
        settle()
        rss = rss_bytes(_pid())
        emit({"event": "idle", "phones": len(registrations), "online": len(observer.online),
              "seconds": round(time.time() - began, 1), "rss_bytes": rss, "base_rss_bytes": base,
              "bytes_per_phone": round((rss - base) / max(1, len(observer.online))), "errors": observer.errors,
              **_trace_figures(traced, len(observer.online))})
        await trio.sleep_forever()


async def bare(spec: dict[str, Any]) -> None:
    """Bare httpx SSE streams: the least a phone holding its stream can cost."""
    server = spec["server"]
    registrations = _registrations(spec["registrations"], spec["phones"])
    pools = Pools(server, SHARED_POOL, SHORT_KEEP_ALIVE)
    base = rss_bytes(_pid())
    traced = _trace_start(spec)
    opened = 0
    began = time.time()

    async def hold(number: int, token: str, task_status: trio.TaskStatus[None]) -> None:
        nonlocal opened
        client = pools.for_phone(number)
        headers = {"Authorization": f"Bearer {token}"}
        async with client.stream("GET", server + MOBILE + "/events", headers=headers,
                                 timeout=httpx.Timeout(30.0, read=3600.0)) as response:
            opened += 1
            task_status.started()
            async for _ in response.aiter_raw():
                pass

    async with trio.open_nursery() as nursery:
        limiter = trio.CapacityLimiter(64)

        async def start(number: int, token: str) -> None:
            async with limiter:
                await nursery.start(hold, number, token)

        for number, item in enumerate(registrations):
            nursery.start_soon(start, number, item["token"])
        with trio.move_on_after(spec.get("within", 300)):
            while opened < len(registrations):  # noqa: ASYNC110
                await trio.sleep(0.5)
        await trio.sleep(2.0)
        gc.collect()
        rss = rss_bytes(_pid())
        emit({"event": "bare", "streams": opened, "seconds": round(time.time() - began, 1), "rss_bytes": rss,
              "base_rss_bytes": base, "bytes_per_stream": round((rss - base) / max(1, opened)),
              **_trace_figures(traced, opened)})
        await trio.sleep_forever()


def _trace_start(spec: dict[str, Any]) -> tracemalloc.Snapshot | None:
    """With `"trace": N` in the spec, tracemalloc (N frames) from here on: the snapshot before the phones."""
    if not spec.get("trace"):
        return None
    gc.collect()
    tracemalloc.start(int(spec["trace"]))
    return tracemalloc.take_snapshot()


def _where(trace: tracemalloc.StatisticDiff) -> str:
    """The innermost frame in our code (simulator/) that led to the allocation, else the innermost one."""
    frames = list(reversed(trace.traceback))  # most recent call first
    ours = next((f for f in frames if "/simulator/phone/" in f.filename), frames[0])
    return f"{ours.filename.split('/simulator/')[-1]}:{ours.lineno} <- {frames[0].filename.rsplit('/', 2)[-1]}"


def _trace_figures(before: tracemalloc.Snapshot | None, count: int, top: int = 25) -> dict[str, Any]:
    """Traced bytes per phone (or stream) since `before`, and the largest groups by the allocating line."""
    if before is None:
        return {}
    gc.collect()
    after = tracemalloc.take_snapshot()
    groups: dict[str, list[int]] = {}
    total = 0
    for diff in after.compare_to(before, "traceback"):
        total += diff.size_diff
        group = groups.setdefault(_where(diff), [0, 0])
        group[0] += diff.size_diff
        group[1] += diff.count_diff
    largest = sorted(groups.items(), key=lambda kv: -kv[1][0])[:top]
    return {"traced_bytes_per_phone": round(total / max(1, count)),
            "traced_top": [{"where": where, "bytes_per_phone": round(size / max(1, count)),
                            "objects_per_phone": round(objects / max(1, count), 2)}
                           for where, (size, objects) in largest]}


def main(argv: list[str] | None = None) -> int:
    spec = json.loads((sys.argv[1:] if argv is None else argv)[0])
    raise_nofile()
    gc.set_threshold(*GC_THRESHOLDS)
    trio.run({"e2e": e2e, "idle": idle, "bare": bare}[spec["mode"]], spec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
