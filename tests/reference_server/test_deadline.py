"""A request's deadline against its database work (storage/deadline.py): whichever comes first, the deadline or
the COMMIT, wins once; work of an expired request is rolled back, in a transaction of its own or in a batch."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Any

import outcome
import pytest
import sqlalchemy as sa
import trio

from reference_server.api.watchdog import Watchdog
from reference_server.storage import deadline as deadlines
from reference_server.storage.batching import Unit
from reference_server.storage.database import Database

TABLE = sa.Table("deadline_items", sa.MetaData(), sa.Column("name", sa.String(32), primary_key=True))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_size=4)
    await trio.to_thread.run_sync(lambda: TABLE.create(database.engine, checkfirst=True))
    yield database
    await trio.to_thread.run_sync(lambda: TABLE.drop(database.engine, checkfirst=True))
    database.dispose()


def _insert(conn: Any, name: str, wait: threading.Event | None = None) -> str:
    conn.execute(TABLE.insert(), {"name": name})
    if wait is not None:
        assert wait.wait(10)
    return name


def _read(conn: Any) -> list[str]:
    return sorted(conn.execute(sa.select(TABLE.c.name)).scalars())


async def _idle(db: Database) -> None:
    """Until every worker thread, abandoned ones included, has finished."""
    with trio.fail_after(10):
        while db.limiter.borrowed_tokens:  # noqa: ASYNC110 - worker threads report nothing else
            await trio.sleep(0.01)


async def test_work_not_committed_by_the_deadline_is_rolled_back(db: Database) -> None:
    deadline = deadlines.Deadline()
    token = deadlines.current.set(deadline)
    release = threading.Event()
    try:
        with trio.move_on_after(0.3) as waited:  # the request's watchdog: the caller leaves at once
            await db.run(_insert, "late", release)
        assert waited.cancelled_caught
        assert deadline.expire()  # nothing committing: the request answers 503
        release.set()
        await _idle(db)
        with pytest.raises(deadlines.RequestExpired):  # an expired request commits nothing any more ...
            await db.run(_insert, "after")
    finally:
        deadlines.current.reset(token)
    assert await db.run(_read) == []  # ... neither the late unit nor a later one


async def test_work_of_a_live_request_commits_and_marks_it(db: Database) -> None:
    deadline = deadlines.Deadline()
    token = deadlines.current.set(deadline)
    try:
        assert await db.run(_read) == []
        assert not deadline.wrote  # a read: the request may still expire
        assert await db.run(_insert, "kept") == "kept"
    finally:
        deadlines.current.reset(token)
    assert deadline.wrote
    assert not deadline.expire()  # committed: the request answers from its outcome
    assert await db.run(_read) == ["kept"]


def test_a_commit_in_flight_wins_over_the_deadline() -> None:
    deadline = deadlines.Deadline()
    claimed = deadlines.claim([deadline, None])
    assert claimed == [deadline]
    assert not deadline.expire()
    deadlines.settle(claimed)  # failed, or a read: nothing written
    assert deadline.expire()
    with pytest.raises(deadlines.RequestExpired):
        deadlines.claim([deadline])


def test_an_unconfirmed_commit_is_unknown() -> None:
    class Lost:
        def commit(self) -> None:
            raise sa.exc.OperationalError("COMMIT", {}, Exception("Lost connection to server during query"))

    deadline = deadlines.Deadline()
    with pytest.raises(deadlines.CommitUnknown):
        deadlines.commit(Lost(), [deadline], [True], unknown_on_failure=True)  # type: ignore[arg-type]
    with pytest.raises(sa.exc.OperationalError):  # SQLite: a failed COMMIT kept nothing
        deadlines.commit(Lost(), [deadline], [True], unknown_on_failure=False)  # type: ignore[arg-type]
    assert deadline.committing == 0 and not deadline.wrote
    assert deadline.expire()


async def test_a_batch_holding_an_expired_request_commits_only_the_others(db: Database) -> None:
    late, live = deadlines.Deadline(), deadlines.Deadline()
    release = threading.Event()
    units = [Unit(_insert, ("late", release)), Unit(_insert, ("live",)), Unit(_insert, ("background",))]
    units[0].deadline, units[1].deadline = late, live
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.to_thread.run_sync, db.batcher._execute_units, units)
        await trio.sleep(0.3)  # the batch runs its first unit, which waits
        assert late.expire()
        release.set()
    assert isinstance(units[0].result, outcome.Error)
    assert isinstance(units[0].result.error, deadlines.RequestExpired)
    assert [unit.result.unwrap() for unit in units[1:]] == ["live", "background"]  # type: ignore[union-attr]
    assert db.batcher.retried == 1  # the batch was rolled back, the others ran again alone
    assert live.wrote and not late.wrote
    assert await db.run(_read) == ["background", "live"]


async def test_an_expired_unit_is_not_run(db: Database) -> None:
    expired = deadlines.Deadline()
    assert expired.expire()
    units = [Unit(_insert, ("skipped",)), Unit(_insert, ("run",))]
    units[0].deadline = expired
    await trio.to_thread.run_sync(db.batcher._execute_units, units)
    assert isinstance(units[0].result, outcome.Error)
    assert await db.run(_read) == ["run"]


async def test_the_watchdog_expires_requests_in_order_unless_committed_or_ended() -> None:
    watchdog = Watchdog()
    idle, committed, ended = deadlines.Deadline(), deadlines.Deadline(), deadlines.Deadline()
    committed.wrote = True
    scopes = [trio.CancelScope() for _ in range(3)]
    watchdog.watch(0.05, idle, scopes[0])
    watchdog.watch(0.05, committed, scopes[1])
    watchdog.watch(0.05, ended, scopes[2]).done = True
    await trio.sleep(0.3)
    assert idle.expired and scopes[0].cancel_called
    assert not committed.expired and not scopes[1].cancel_called  # it answers from its COMMIT
    assert not ended.expired and not scopes[2].cancel_called
