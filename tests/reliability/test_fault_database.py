"""The database goes away under load, on a MariaDB server of the test's own (never the shared one).

While it is gone every request answers fast (within `http.request_timeout` plus the driver's timeouts) with 503
and a JSON message, `/health/ready` answers 503, and the server recovers by itself once the database is back.
Every message answered 202, before, during or after, is in the database afterwards.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from live_server import LiveServer
from private_services import PrivateMariaDB, private_mariadb  # noqa: F401 - the fixture

pytestmark = [pytest.mark.slow, pytest.mark.mariadb]

SENDERS = 4
REQUEST_TIMEOUT = 3  # http.request_timeout
CONNECT_TIMEOUT = 1  # database.connect_timeout
QUERY_TIMEOUT = 2  # database.query_timeout
# The longest answer allowed: the handler's bound, plus one database call the handler waits out (a worker
# thread is not abandoned), plus slack for a loaded machine.
ANSWER_BOUND = REQUEST_TIMEOUT + CONNECT_TIMEOUT + QUERY_TIMEOUT + 2
ENV = {"DATABASE__CONNECT_TIMEOUT": f"{CONNECT_TIMEOUT}s", "DATABASE__QUERY_TIMEOUT": f"{QUERY_TIMEOUT}s",
       "HTTP__REQUEST_TIMEOUT": f"{REQUEST_TIMEOUT}s", "DATABASE__MAX_OPEN_CONNS": "4"}


@dataclass
class Outcome:
    started: float
    seconds: float
    status: int | None  # None: no answer at all
    body: Any = None


@dataclass
class Load:
    """Sends with SENDERS requests in flight until stopped, and probes readiness."""

    http: httpx.AsyncClient
    auth: tuple[str, str]
    sends: dict[str, Outcome] = field(default_factory=dict)
    probes: list[Outcome] = field(default_factory=list)
    stop: trio.Event = field(default_factory=trio.Event)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    async def _timed(self, call: Callable[[], Awaitable[httpx.Response]]) -> Outcome:
        started = trio.current_time()
        try:
            response = await call()
        except httpx.TransportError:
            return Outcome(started, trio.current_time() - started, None)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        return Outcome(started, trio.current_time() - started, response.status_code, body)

    async def sender(self) -> None:
        while not self.stop.is_set():
            ext_id = f"load-{next(self._ids)}"
            body = {"id": ext_id, "textMessage": {"text": f"text of {ext_id}"}, "phoneNumbers": ["+79990001122"]}
            self.sends[ext_id] = await self._timed(
                lambda body=body: self.http.post("/api/3rdparty/v1/messages", json=body, auth=self.auth))  # type: ignore[misc]
            await trio.sleep(0.02)

    async def prober(self) -> None:
        while not self.stop.is_set():
            self.probes.append(await self._timed(lambda: self.http.get("/health/ready")))
            await trio.sleep(0.25)

    def accepted(self) -> set[str]:
        return {ext_id for ext_id, outcome in self.sends.items() if outcome.status == 202}

    def between(self, outcomes: list[Outcome], start: float, end: float) -> list[Outcome]:
        return [o for o in outcomes if start <= o.started and o.started + o.seconds <= end]


async def _until(predicate: Callable[[], Awaitable[bool]], within: float) -> float:
    """Polls until `predicate` holds; returns the seconds it took."""
    started = trio.current_time()
    with trio.fail_after(within):
        while not await predicate():  # noqa: ASYNC110 - the state polled is the remote server's
            await trio.sleep(0.1)
    return trio.current_time() - started


async def _run_outage(tmp_path: Path, database: PrivateMariaDB, outage: float,
                      fail: Callable[[], None], recover: Callable[[], None]) -> None:
    server = LiveServer(tmp_path, env={"DATABASE__URL": database.create_database(), **ENV})
    await trio.to_thread.run_sync(server.start)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            response = await http.post("/api/mobile/v1/device", json={"name": "fault/phone"})
            assert response.status_code == 201, response.text
            user = response.json()
            load = Load(http, (user["login"], user["password"]))

            async def sent_again() -> bool:
                return len(load.accepted()) > accepted_during

            async with trio.open_nursery() as nursery:
                for _ in range(SENDERS):
                    nursery.start_soon(load.sender)
                nursery.start_soon(load.prober)
                await trio.sleep(1.5)
                assert load.accepted(), [o.body for o in load.sends.values()][:3]
                await trio.to_thread.run_sync(fail)
                down_at = trio.current_time()
                await trio.sleep(outage)
                accepted_during = len(load.accepted())
                up_at = trio.current_time()  # the database may answer from here on
                await trio.to_thread.run_sync(recover)
                recovery = await _until(sent_again, within=20)
                await trio.sleep(1.5)
                load.stop.set()

        sends = list(load.sends.values())
        assert all(o.status is not None for o in sends + load.probes), "a request got no answer"
        slowest = max(o.seconds for o in sends + load.probes)
        print(f"{len(sends)} sends, {len(load.accepted())} accepted, slowest answer {slowest:.2f}s")
        assert slowest <= ANSWER_BOUND, f"a request took {slowest:.1f}s"
        assert {o.status for o in sends} <= {202, 503}, {o.status for o in sends}
        failed = [o for o in sends if o.status == 503]
        assert failed, "no send failed: the outage was not seen"
        assert all(isinstance(o.body, dict) and o.body.get("message") for o in failed), failed[0].body
        # whatever started a moment into the outage and ended before its end failed, sends and readiness alike
        inside = (down_at + 1, up_at)
        answered_inside = load.between(sends, *inside)
        assert all(o.status == 503 for o in answered_inside), [
            (round(o.started - down_at, 2), round(o.seconds, 2), o.status) for o in answered_inside if o.status != 503]
        assert all(o.status == 503 for o in load.between(load.probes, *inside))
        failed_probes = [o for o in load.probes if o.started >= down_at and o.status == 503]
        assert failed_probes, "readiness never failed"
        assert all(o.body.get("status") == "fail" or o.body.get("message") for o in failed_probes)
        # and after recovery both work again, by themselves
        assert recovery < 15
        assert load.probes[-1].status == 200

        stored = {row[0] for row in await trio.to_thread.run_sync(
            database.query, f"SELECT ext_id FROM messages WHERE device_id = '{user['id']}'")}
        missing = load.accepted() - stored
        assert not missing, f"{len(missing)} acknowledged messages lost: {sorted(missing)[:5]}"
        # an answered 503 may still have committed (the answer was lost, not the message); nothing else appears
        assert stored - load.accepted() <= {i for i, o in load.sends.items() if o.status == 503}
        recipients = await trio.to_thread.run_sync(
            database.query, "SELECT COUNT(*) FROM message_recipients r JOIN messages m ON m.id = r.message_id")
        assert recipients[0][0] == len(stored)
    finally:
        await trio.to_thread.run_sync(server.stop)


async def test_mariadb_stopped_for_ten_seconds(tmp_path: Path, private_mariadb: PrivateMariaDB) -> None:  # noqa: F811
    await _run_outage(tmp_path, private_mariadb, 10, private_mariadb.stop, private_mariadb.start)


async def test_mariadb_frozen(tmp_path: Path, private_mariadb: PrivateMariaDB) -> None:  # noqa: F811
    """SIGSTOP: the server still accepts TCP connections but never answers, the case timeouts exist for."""
    await _run_outage(tmp_path, private_mariadb, 8, private_mariadb.freeze, private_mariadb.thaw)
