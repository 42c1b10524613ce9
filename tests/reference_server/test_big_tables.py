"""Big tables (issue 23): counts kept as data stay exact and are repaired; keyset pages; list and pull order;
migration 0005 on a database that already holds rows."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import trio
from conftest import Api, error_of

from reference_server.domain.clock import now
from reference_server.storage import counts
from reference_server.storage.database import Database, create_engine
from reference_server.storage.maintenance import MaintenanceRepository
from reference_server.storage.messages import _pending_query
from reference_server.storage.migrate import downgrade, upgrade
from reference_server.storage.tables import devices, message_counts, messages, users

TP = "/api/3rdparty/v1"
PHONE = "+79991234567"


def creds(user: dict[str, Any]) -> tuple[str, str]:
    return user["login"], user["password"]


def phone_auth(device: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {device['token']}"}


async def send(api: Api, user: dict[str, Any], **extra: Any) -> str:
    response = await api.send(user, {"textMessage": {"text": "hi"}, "phoneNumbers": [PHONE], **extra})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def counts_and_rows(url: str) -> tuple[dict[tuple[str, str, str], int], dict[tuple[str, str, str], int]]:
    """The stored counts (zeros left out) and the same counted on the rows."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            stored = {(r.device_id, str(r.state), str(r.day)): int(r.total)
                      for r in conn.execute(sa.select(message_counts)) if r.total}
            day = sa.func.date(messages.c.created_at)
            actual = {(d, str(s), str(on)): int(n) for d, s, on, n in conn.execute(
                sa.select(messages.c.device_id, messages.c.state, day, sa.func.count())
                .group_by(messages.c.device_id, messages.c.state, day))}
    finally:
        engine.dispose()
    return stored, actual


def execute(url: str, *statements: Any) -> None:
    """Runs the statements in one transaction; a list after a statement is its executemany parameters."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                if isinstance(statement, list):
                    continue
                following = statements[statements.index(statement) + 1:][:1]
                conn.execute(statement, following[0] if following and isinstance(following[0], list) else None)
    finally:
        engine.dispose()


async def test_counts_stay_exact_under_concurrent_writes_and_the_repair_task_restores_them(
        api: Api, database_url: str) -> None:
    user = await api.register()
    ids: list[str] = []

    async def sender(n: int) -> None:
        for _ in range(n):
            ids.append(await send(api, user))

    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(sender, 6)
    assert len(ids) == 24

    async def report(ext: str, state: str) -> None:
        response = await api.client.patch("/api/mobile/v1/messages", headers=phone_auth(user), json=[{
            "id": ext, "state": state, "recipients": [{"phoneNumber": PHONE, "state": state}]}])
        assert response.status_code == 204, response.text

    async def cancel(ext: str) -> None:
        response = await api.client.delete(f"{TP}/messages/{ext}", auth=creds(user))
        assert response.status_code in (200, 409), response.text  # 409: a report moved it on first

    async with trio.open_nursery() as nursery:  # state changes and cancels race each other and new sends
        for ext in ids[:8]:
            nursery.start_soon(report, ext, "Sent")
        for ext in ids[4:12]:  # overlaps the reports: a cancel of a message that moved on does not move it
            nursery.start_soon(cancel, ext)
        for ext in ids[12:16]:
            nursery.start_soon(report, ext, "Failed")
        nursery.start_soon(sender, 4)

    # Cleanup of everything finished, in batches of 3: counts come down with the rows.
    repository = MaintenanceRepository(api.services.db)
    deleted = await repository.delete_messages_created_before(now() + timedelta(minutes=1), batch=3)
    assert deleted >= 8
    stored, actual = counts_and_rows(database_url)
    assert stored == actual and sum(actual.values()) == 28 - deleted

    listed = await api.client.get(f"{TP}/messages", params={"state": "Pending"}, auth=creds(user))
    pending = sum(n for (_, state, _), n in actual.items() if state == "Pending")
    assert listed.headers["X-Total-Count"] == str(pending) and len(listed.json()) == pending

    # A crash between a row and its count (here: counts corrupted by hand) is repaired by the periodic task.
    device_id = next(iter(actual))[0]
    execute(database_url,
            message_counts.update().values(total=message_counts.c.total + 7),
            message_counts.insert().values(device_id=device_id, state="Delivered", day=datetime(2020, 1, 1).date(),
                                           total=3))
    assert counts_and_rows(database_url)[0] != actual
    fixed = await repository.recount_messages()
    assert fixed >= 2
    assert counts_and_rows(database_url) == (actual, actual)
    assert await repository.recount_messages() == 0


def restamp(url: str, values: Callable[[int], dict[str, Any]]) -> None:
    """Gives the i-th message (in id order) the column values `values(i)`; the counts are left as they were."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            ids = conn.execute(sa.select(messages.c.id).order_by(messages.c.id)).scalars().all()
            for i, row_id in enumerate(ids):
                conn.execute(messages.update().where(messages.c.id == row_id).values(**values(i)))
    finally:
        engine.dispose()


async def test_counts_with_from_to_match_the_rows(api: Api, database_url: str) -> None:
    user = await api.register()
    for _ in range(6):
        await send(api, user)
    # Spread the messages over four days so that whole days come from the counts, boundary days from rows.
    base = datetime(2026, 3, 10, 12, 0, 0)
    restamp(database_url, lambda i: {"created_at": base + timedelta(hours=18 * i)})
    await MaintenanceRepository(api.services.db).recount_messages()
    for since, until in [(None, None), (base, None), (None, base + timedelta(days=2)),
                         (base + timedelta(hours=1), base + timedelta(days=3, hours=1)),
                         (base + timedelta(hours=20), base + timedelta(hours=30)),
                         # parts of days longer than half a day: the day's count less the rows of the rest
                         (base - timedelta(hours=6), base + timedelta(days=2, hours=4)),
                         (base + timedelta(hours=37), None)]:
        params = {k: v.replace(tzinfo=UTC).isoformat() for k, v in (("from", since), ("to", until)) if v}
        response = await api.client.get(f"{TP}/messages", params=params, auth=creds(user))
        expected = [i for i in range(6) if (since is None or base + timedelta(hours=18 * i) >= since)
                    and (until is None or base + timedelta(hours=18 * i) < until)]
        assert response.headers["X-Total-Count"] == str(len(expected)), params
        assert len(response.json()) == len(expected)
    # Deep offsets skip whole days by their counts: every page is still the right slice, with `to` too.
    newest_first = [m["id"] for m in (await api.client.get(f"{TP}/messages", auth=creds(user))).json()]
    assert len(newest_first) == 6
    until = base + timedelta(hours=18 * 4, minutes=1)  # inside the fourth message's day, after it
    for offset in range(7):
        page = await api.client.get(f"{TP}/messages", params={"limit": 2, "offset": offset}, auth=creds(user))
        assert [m["id"] for m in page.json()] == newest_first[offset:offset + 2], offset
        page = await api.client.get(f"{TP}/messages", auth=creds(user), params={
            "limit": 2, "offset": offset, "to": until.replace(tzinfo=UTC).isoformat()})
        assert [m["id"] for m in page.json()] == newest_first[1:][offset:offset + 2], offset


async def test_deep_offsets_inside_a_day_read_from_its_nearer_end(api: Api, database_url: str) -> None:
    # Two phones of one account; twelve messages in one day (an hour apart), two the next day: a page deep in
    # the big day is read from that day's oldest end and turned around; it must be the same slice.
    user = await api.register()
    second = await api.register(auth=creds(user))
    for i in range(14):
        await send(api, user, deviceId=(user if i % 2 else second)["id"])
    base = datetime(2026, 3, 10, 6, 0, 0)
    restamp(database_url, lambda i: {"created_at": base + timedelta(hours=i if i < 12 else 24 + i),
                                     "state": "Failed" if i % 3 == 0 else "Pending"})
    await MaintenanceRepository(api.services.db).recount_messages()
    for params in ({}, {"deviceId": user["id"]}, {"state": "Failed"}, {"state": "Pending"}):
        whole = await api.client.get(f"{TP}/messages", params={"limit": 100, **params}, auth=creds(user))
        newest_first = [m["id"] for m in whole.json()]
        assert len(newest_first) == int(whole.headers["X-Total-Count"]) > 3, params
        for limit in (2, 3):
            for offset in range(len(newest_first) + 1):
                page = await api.client.get(f"{TP}/messages", auth=creds(user),
                                            params={"limit": limit, "offset": offset, **params})
                assert [m["id"] for m in page.json()] == newest_first[offset:offset + limit], (params, offset)


def next_after(response: Any) -> str | None:
    found = re.search(r'<[^>]*[?&]after=([^&>]+)[^>]*>; rel="next"', response.headers.get("Link", ""))
    return found.group(1) if found else None


@pytest.mark.parametrize("sort", ["-created_at", "created_at"])
async def test_keyset_pages_never_skip_or_repeat_while_messages_arrive(api: Api, sort: str) -> None:
    user = await api.register()
    other = await api.register(auth=creds(user))  # a second phone of the account: pages merge both
    phones = [user["id"], other["id"]]
    first = [await send(api, user, deviceId=phones[i % 3 == 0]) for i in range(11)]
    seen: list[str] = []
    after: str | None = None
    for page in range(10):
        params = {"limit": 3, "sort": sort, **({"after": after} if after else {})}
        response = await api.client.get(f"{TP}/messages", params=params, auth=creds(user))
        assert response.status_code == 200, response.text
        seen += [m["id"] for m in response.json()]
        if page < 3:
            await send(api, user)  # arrives between pages: newest, so before the cursor (desc) or after it (asc)
        after = next_after(response)
        if after is None:
            break
    assert len(seen) == len(set(seen))
    if sort == "-created_at":
        assert seen == list(reversed(first))
    else:
        assert seen[:11] == first and len(seen) == 14


async def test_a_cursor_that_is_not_ours_is_a_400(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    for bad in ("x", "bm90LWEtZGF0ZXwx", "MjAyNi0wMS0wMVQwMDowMDowMHwtMw"):
        response = await sqlite_api.client.get(f"{TP}/messages", params={"after": bad}, auth=creds(user))
        assert "after" in error_of(response, 400)


async def test_list_order_is_upstreams_and_the_pull_is_the_apps(api: Api) -> None:
    """Upstream's list defaults to `-created_at` whatever the priority or schedule (handlers/messages, since
    its sort option); the phone's pull orders by schedule_at (none first), priority DESC, then id (LIFO/FIFO)."""
    user = await api.register()
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    soon = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    plan = [{}, {"priority": 100}, {"scheduleAt": later}, {"priority": -5}, {"scheduleAt": soon, "priority": 50},
            {"priority": 100}, {"scheduleAt": soon}, {}]
    ids = [await send(api, user, **extra) for extra in plan]
    cancelled = ids[7]
    response = await api.client.delete(f"{TP}/messages/{cancelled}", auth=creds(user))
    assert response.status_code == 200

    listed = await api.client.get(f"{TP}/messages", auth=creds(user))
    assert [m["id"] for m in listed.json()] == list(reversed(ids))
    listed = await api.client.get(f"{TP}/messages", params={"sort": "created_at"}, auth=creds(user))
    assert [m["id"] for m in listed.json()] == ids

    # Pull: no schedule first (priority 100 newest first, then 0 incl. the Cancelling one, then -5), then by time.
    lifo = [ids[5], ids[1], ids[7], ids[0], ids[3], ids[4], ids[6], ids[2]]
    fifo = [ids[1], ids[5], ids[0], ids[7], ids[3], ids[4], ids[6], ids[2]]
    for order, expected in (("lifo", lifo), ("fifo", fifo)):
        pulled = await api.client.get("/api/mobile/v1/messages", params={"order": order}, headers=phone_auth(user))
        assert [m["id"] for m in pulled.json()] == expected, order


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb),
                                     pytest.param("postgres", marks=pytest.mark.postgresql)])
async def test_migration_0005_on_a_database_with_rows(backend: str, tmp_path: Path,
                                                      request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite" else request.getfixturevalue(f"fresh_{backend}_url")
    engine = create_engine(url)
    try:
        upgrade(engine, "0003")
        moment = datetime(2026, 1, 1, 10, 0, 0)
        execute(url, users.insert().values(id="olduser", password_hash="x", created_at=moment, updated_at=moment),
                devices.insert().values(id="d" * 21, auth_token="t" * 21, user_id="olduser", sim_cards=[],
                                        last_seen=moment, created_at=moment, updated_at=moment),
                messages.insert(), [
                    {"device_id": "d" * 21, "ext_id": f"m{i}", "type": "Text", "content": "{}",
                     "state": "Delivered" if i % 2 else "Pending", "with_delivery_report": True, "priority": 0,
                     "is_hashed": False, "is_encrypted": False, "created_at": moment + timedelta(hours=7 * i),
                     "updated_at": moment} for i in range(5)])
        upgrade(engine)
        stored, actual = counts_and_rows(url)
        assert stored == actual and sum(actual.values()) == 5
        indexes = {ix["name"] for ix in sa.inspect(engine).get_indexes("messages")}
        assert {"idx_messages_device_created", "idx_messages_device_state_pull"} <= indexes
        downgrade(engine, "0003")
        assert "message_counts" not in sa.inspect(engine).get_table_names()
        upgrade(engine)
        assert counts_and_rows(url)[0] == actual
    finally:
        engine.dispose()


@pytest.mark.postgresql
async def test_the_pull_on_postgresql_reads_the_index_in_order(postgres_url: str) -> None:
    """PostgreSQL sorts NULLs last unless told: its pull indexes put NULL schedule_at first, as the query does,
    so an index scan yields the rows in order (no Sort). Other scans and sorting are discouraged: the table is
    (nearly) empty, and the planner would otherwise rightly read it whole or sort a few rows."""
    db = Database(postgres_url)
    try:
        for fifo, index in ((False, "idx_messages_device_state_pull "), (True, "idx_messages_device_state_pull_fifo")):
            statement = _pending_query("Pending", fifo, 100, "postgresql")
            sql = "EXPLAIN " + str(statement.params(device_id="x" * 21).compile(
                dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
            lines = await db.run(lambda c, sql=sql: _explain(c, sql))
            assert any(index in line for line in lines), lines
            assert not any("Sort" in line for line in lines), lines
    finally:
        db.dispose()


def _explain(conn: sa.Connection, sql: str) -> list[str]:
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
    conn.exec_driver_sql("SET LOCAL enable_sort = off")  # a Sort then shows only where no index gives the order
    return [str(row[0]) for row in conn.exec_driver_sql(sql).all()]


async def test_the_pull_reads_the_index_not_every_pending_row(sqlite_url: str) -> None:
    """SQLite's plan for the pull: the device/state/schedule/priority/id index, no temporary B-tree."""
    db = Database(sqlite_url)
    try:
        for fifo, index in ((False, "idx_messages_device_state_pull "), (True, "idx_messages_device_state_pull_fifo")):
            statement = _pending_query("Pending", fifo, 100, "sqlite").compile(dialect=db.engine.dialect)
            plan = await db.run(lambda c, s=statement: [str(r[-1]) for r in c.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {s}", ("x" * 21, "Pending", 100, 0)).all()])
            assert any(index in line for line in plan), plan
            assert not any("TEMP B-TREE" in line for line in plan), plan
    finally:
        db.dispose()


def test_a_connection_lost_mid_transaction_rolls_back_without_a_second_error(sqlite_url: str) -> None:
    """The database went away inside a transaction holding count deltas: the rollback must end with the driver's
    OperationalError (answered 503), not with a PendingRollbackError from the counts' rollback hook (a 500)."""
    engine = create_engine(sqlite_url)
    counts.install(engine)
    try:
        with pytest.raises(sa.exc.OperationalError), engine.begin() as conn:
            counts.bump(conn, Counter({("d", "Pending", now().date()): 1}))
            conn.invalidate()  # what SQLAlchemy does on a lost connection, before the rollback
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("server has gone away"))
        with engine.begin() as conn:  # the pool's next connection starts without the lost deltas
            assert counts._PENDING not in conn.info
    finally:
        engine.dispose()
