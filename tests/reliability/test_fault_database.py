"""The database goes away under load, on a MariaDB server of the test's own (never the shared one).

While it is gone every send answers by its deadline (`http.request_timeout`) with 503 and a JSON message, or,
when its COMMIT was in flight at the deadline, by the deadline plus the COMMIT's bound, from the COMMIT's
outcome (504 when unconfirmed); `/health/ready` answers 503 within `health.timeout`, and the server recovers by
itself once the database is back. Afterwards, in the database: every message answered 202 is there and reached
the phone once, no message answered 503 is there, and a 504 sent again with its id answers 409 when stored.
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
from httpx_phone import Phone, PhoneStore, register
from live_server import LiveServer
from private_services import PrivateMariaDB, private_mariadb  # noqa: F401 - the fixture

pytestmark = [pytest.mark.slow, pytest.mark.mariadb]

SENDERS = 4
REQUEST_TIMEOUT = 3  # http.request_timeout
CONNECT_TIMEOUT = 1  # database.connect_timeout
# Longer than the freeze, as with the defaults (30 s both): the work of a send that answered 503 wakes up with the
# database and must then be rolled back, not committed.
QUERY_TIMEOUT = 10  # database.query_timeout
HEALTH_TIMEOUT = 1  # health.timeout
COMMIT_GRACE = 2  # reference_server.app._App.commit_grace
SLACK = 2  # for a loaded machine
# The longest answers allowed: a send that did not commit answers at its deadline; one whose COMMIT was in flight
# then waits for it, at most the commit grace; readiness answers within its own bound.
FAILED_BOUND = REQUEST_TIMEOUT + SLACK
ANSWER_BOUND = REQUEST_TIMEOUT + COMMIT_GRACE + SLACK
PROBE_BOUND = HEALTH_TIMEOUT + SLACK
ENV = {"DATABASE__CONNECT_TIMEOUT": f"{CONNECT_TIMEOUT}s", "DATABASE__QUERY_TIMEOUT": f"{QUERY_TIMEOUT}s",
       "HTTP__REQUEST_TIMEOUT": f"{REQUEST_TIMEOUT}s", "DATABASE__MAX_OPEN_CONNS": "4",
       "HEALTH__TIMEOUT": f"{HEALTH_TIMEOUT}s"}


@dataclass
class Outcome:
    started: float
    seconds: float
    status: int | None  # None: no answer at all
    body: Any = None
    retry_after: str | None = None


@dataclass
class Load:
    """Sends with SENDERS requests in flight until stopped, and probes readiness."""

    http: httpx.AsyncClient
    auth: tuple[str, str]
    sends: dict[str, Outcome] = field(default_factory=dict)
    probes: list[Outcome] = field(default_factory=list)
    live: list[Outcome] = field(default_factory=list)  # /health/live
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
        return Outcome(started, trio.current_time() - started, response.status_code, body,
                       response.headers.get("Retry-After"))

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
            self.live.append(await self._timed(lambda: self.http.get("/health/live")))
            await trio.sleep(0.25)

    def accepted(self) -> set[str]:
        return self.answered(202)

    def answered(self, status: int) -> set[str]:
        return {ext_id for ext_id, outcome in self.sends.items() if outcome.status == status}

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
                      fail: Callable[[], None], recover: Callable[[], None], cache_url: str = "memory://") -> None:
    server = LiveServer(tmp_path, env={"DATABASE__URL": database.create_database(), "CACHE__URL": cache_url, **ENV})
    await trio.to_thread.run_sync(server.start)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            user = await register(http, "fault/phone")
            load = Load(http, (user["login"], user["password"]))
            phone = PhoneStore(user["token"])

            async def sent_again() -> bool:
                return len(load.accepted()) > accepted_during

            async with trio.open_nursery() as phones:
                device = Phone(http, phone)
                phones.start_soon(device.run)
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
                # every message answered 202 reaches the phone (a 504 may too: it may have been stored)
                with trio.fail_after(20):
                    while not load.accepted() <= set(phone.radio):
                        device.want_pull()  # as the app's periodic sync: a pull takes at most 100 messages
                        await trio.sleep(0.5)
                phones.cancel_scope.cancel()

            stored = {row[0] for row in await trio.to_thread.run_sync(
                database.query, f"SELECT ext_id FROM messages WHERE device_id = '{user['id']}'")}
            # a 504's outcome is unknown to its sender: sent again with the same id, 409 tells it was stored
            unknown = load.answered(504)
            again = {ext_id: (await http.post("/api/3rdparty/v1/messages", auth=load.auth, json={
                "id": ext_id, "textMessage": {"text": f"text of {ext_id}"}, "phoneNumbers": ["+79990001122"]})
            ).status_code for ext_id in sorted(unknown)}

        sends = list(load.sends.values())
        assert all(o.status is not None for o in sends + load.probes), "a request got no answer"
        slowest = max(o.seconds for o in sends)
        slowest_failed = max(o.seconds for o in sends if o.status == 503)
        slowest_probe = max(o.seconds for o in load.probes)
        print(f"{len(sends)} sends: {len(load.accepted())} accepted, {len(load.answered(503))} failed, "
              f"{len(unknown)} unconfirmed; slowest answer {slowest:.2f}s, slowest 503 {slowest_failed:.2f}s, "
              f"slowest readiness {slowest_probe:.2f}s; sent again: {again}")
        assert slowest <= ANSWER_BOUND, f"a send took {slowest:.1f}s"
        assert slowest_failed <= FAILED_BOUND, f"a failed send took {slowest_failed:.1f}s"
        assert slowest_probe <= PROBE_BOUND, f"a readiness probe took {slowest_probe:.1f}s"
        assert {o.status for o in sends} <= {202, 503, 504}, {o.status for o in sends}
        failed = [o for o in sends if o.status in (503, 504)]
        assert any(o.status == 503 for o in failed), "no send failed: the outage was not seen"
        assert all(isinstance(o.body, dict) and o.body.get("message") for o in failed), failed[0].body
        assert all(o.retry_after for o in failed if o.status == 503)
        # the process itself stayed sound all along
        assert all(o.status == 200 and o.seconds <= PROBE_BOUND for o in load.live), [
            o for o in load.live if o.status != 200]
        # whatever started a moment into the outage and ended before its end failed, sends and readiness alike
        inside = (down_at + 1, up_at)
        answered_inside = load.between(sends, *inside)
        assert all(o.status == 503 for o in answered_inside), [
            (round(o.started - down_at, 2), round(o.seconds, 2), o.status) for o in answered_inside if o.status != 503]
        assert all(o.status == 503 for o in load.between(load.probes, *inside))
        # readiness turned 503 as soon as its bound allows
        first_failed = min(o.started + o.seconds for o in load.probes if o.started >= down_at and o.status == 503)
        assert first_failed - down_at <= 0.25 + PROBE_BOUND, first_failed - down_at
        failed_probes = [o for o in load.probes if o.started >= down_at and o.status == 503]
        assert failed_probes, "readiness never failed"
        assert all(o.body.get("status") == "fail" or o.body.get("message") for o in failed_probes)
        # and after recovery both work again, by themselves
        assert recovery < 15
        assert load.probes[-1].status == 200

        missing = load.accepted() - stored
        assert not missing, f"{len(missing)} acknowledged messages lost: {sorted(missing)[:5]}"
        kept = stored & load.answered(503)
        assert not kept, f"{len(kept)} messages answered 503 were stored: {sorted(kept)[:5]}"
        assert stored <= load.accepted() | unknown
        assert all(status == (409 if ext_id in stored else 202) for ext_id, status in again.items()), again
        # once each: sent again (a 504 answered 202 the second time) or not, no message reached the radio twice
        assert len(phone.radio) == len(set(phone.radio)), "a message was sent twice"
        assert set(phone.radio) <= stored | set(again)
        recipients = await trio.to_thread.run_sync(
            database.query, "SELECT COUNT(*) FROM message_recipients r JOIN messages m ON m.id = r.message_id")
        assert recipients[0][0] == len(stored) + list(again.values()).count(202)  # one each, retries included
    finally:
        await trio.to_thread.run_sync(server.stop)


async def test_mariadb_stopped_for_ten_seconds(tmp_path: Path, private_mariadb: PrivateMariaDB) -> None:  # noqa: F811
    await _run_outage(tmp_path, private_mariadb, 10, private_mariadb.stop, private_mariadb.start)


async def test_mariadb_frozen(tmp_path: Path, private_mariadb: PrivateMariaDB) -> None:  # noqa: F811
    """SIGSTOP: the server still accepts TCP connections but never answers, the case timeouts exist for."""
    await _run_outage(tmp_path, private_mariadb, 8, private_mariadb.freeze, private_mariadb.thaw)


async def test_mariadb_frozen_holding_the_shared_state(tmp_path: Path,
                                                       private_mariadb: PrivateMariaDB) -> None:  # noqa: F811
    """`cache.url: database://` (several processes without Redis): every cached login confirms its epoch in the
    frozen database too, and still answers 503 by its deadline."""
    await _run_outage(tmp_path, private_mariadb, 8, private_mariadb.freeze, private_mariadb.thaw, "database://")
