"""Big tables: each request's p50/p99 on 1,000 and on 1,000,000 stored messages, and the ratio.

`nox -s bench-bigtables` (or `python tests/bench_bigtables.py --backend sqlite --size 1000000`). Per backend, two
databases (small and big) at once: each a fresh database migrated to head behind its own live server (real
HTTP), ten phones registered through the API, then messages written straight into the database in the server's
own row shapes (message, recipients, state history; ids assigned here so one executemany per table does it, COPY
on PostgreSQL), the counts filled as migration 0005 fills them, and the load's dirty pages written out. One
account holds half the messages on one phone; another phone has 50,000 pending (200 on the small database).
Requests run sequentially, in turns on the two databases (the same machine load for both); then the same reads
while a cleanup or the hashing job runs on the big database from a second process's worth of repository calls.

It lives under tests/ because it writes the server's tables (the simulator may not import reference_server).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import trio
from live_server import LiveServer  # type: ignore[import-not-found]

from reference_server.storage.database import Database, create_engine
from reference_server.storage.maintenance import MaintenanceRepository
from reference_server.storage.migrate import upgrade

MARIADB_ADMIN = "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TP = "/api/3rdparty/v1"
DAYS = 30
SAMPLES = 300  # p99 is then the 3rd-worst sample, not (as of 100) the 2nd-worst: one stray stall less
CHUNK = 50_000
LATE_INDEXES = {  # on MariaDB/PostgreSQL, built after the rows are in (the FK keeps idx_messages_device_state)
    "unq_messages_id_device": "ext_id, device_id", "idx_messages_is_hashed": "is_hashed",
    "idx_messages_created_at": "created_at", "idx_messages_device_created": "device_id, created_at, id",
    "idx_messages_device_state_created": "device_id, state, created_at, id",
    "idx_messages_device_state_pull": "device_id, state, schedule_at, priority DESC, id DESC",
    "idx_messages_device_state_pull_fifo": "device_id, state, schedule_at, priority DESC, id",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", action="append", choices=["sqlite", "mariadb", "postgresql"])
    parser.add_argument("--size", type=int, default=1_000_000, help="messages in the big database")
    parser.add_argument("--samples", type=int, default=SAMPLES)
    args = parser.parse_args()
    rows: list[str] = []
    for backend in args.backend or ["sqlite", "mariadb", "postgresql"]:
        loads = [load_average()]
        small, big = measure(backend, (1_000, args.size), args.samples)
        loads.append(load_average())
        rows += table(backend, small, big, args.size)
        rows.append(f"{backend}: {args.samples} samples per request, taken in turns on both databases; machine "
                    f"load average (1 min) at the start and at the end: {', '.join(f'{x:.1f}' for x in loads)}")
    print("\n".join(rows))


def table(backend: str, small: dict[str, list[float]], big: dict[str, list[float]], size: int) -> list[str]:
    lines = [f"\n{backend}: p50 / p99 in ms, 1,000 vs {size:,} messages",
             "| request | 1,000 p50 | 1,000 p99 | big p50 | big p99 | p50 ratio | p99 ratio |",
             "|---|---|---|---|---|---|---|"]
    for name in small:
        a, b = pct(small[name]), pct(big[name])
        lines.append(f"| {name} | {a[0]:.1f} | {a[1]:.1f} | {b[0]:.1f} | {b[1]:.1f} | "
                     f"{b[0] / a[0]:.2f}x | {b[1] / a[1]:.2f}x |")
    for name in small:
        if " during " in name:
            alone = name.split(" during ")[0]
            later = pct(big[name])[1] - pct(big[alone])[1]
            # Both databases were read in turns, the job running on the big one only: what the big one's p99
            # gained over the small one's while the job ran, less what it had over it with no job.
            beside = (pct(big[name])[1] - pct(small[name])[1]) - (pct(big[alone])[1] - pct(small[alone])[1])
            lines.append(f"{backend} {size:,}: {name}: the job adds {beside:+.1f} ms to the p99 (against the small "
                         f"database read at the same moments; {later:+.1f} ms against the same request measured "
                         "earlier with no job, which also holds any change of the machine's load)")
    return lines


def load_average() -> float:
    return os.getloadavg()[0]


def pct(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


# --- the database ------------------------------------------------------------------------------------------
def database_url(backend: str, workdir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'big.db'}"
    name = f"smsgate_bench_{random.randrange(1 << 30):x}"
    admin_url = POSTGRES_ADMIN if backend == "postgresql" else MARIADB_ADMIN
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name} ENCODING 'UTF8'" if backend == "postgresql" else
                             f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    admin.dispose()
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop(url: str) -> None:
    if url.startswith(("mysql", "postgresql")):
        postgresql = url.startswith("postgresql")
        admin = sa.create_engine(POSTGRES_ADMIN if postgresql else MARIADB_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {sa.make_url(url).database}"
                                 + (" WITH (FORCE)" if postgresql else "")))
        admin.dispose()


def fill(url: str, devices: list[str], hot: str, puller: str, size: int, pending: int) -> tuple[float, list[str]]:
    """Writes `size` finished messages (half on `hot`) and `pending` Pending ones on `puller`; returns the
    seconds it took and a sample of the hot phone's ext ids."""
    started = time.monotonic()
    engine = create_engine(url, query_timeout=900)  # building an index on 1M rows takes longer than 30 s
    sqlite = engine.dialect.name == "sqlite"
    postgresql = engine.dialect.name == "postgresql"
    mark = "?" if sqlite else "%s"
    end = datetime.utcnow().replace(microsecond=0) - timedelta(minutes=5)
    others = [d for d in devices if d not in (hot, puller)]
    sample: list[str] = []

    def stamp(moment: datetime) -> Any:
        return moment.isoformat(sep=" ", timespec="microseconds") if sqlite else moment

    def rows() -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        step = DAYS * 86400 / max(size, 1)
        for i in range(size):
            device = hot if i % 2 == 0 else others[i % len(others)]
            created = end - timedelta(seconds=(size - i) * step)
            state = "Failed" if i % 50 == 1 else "Delivered"
            ext = f"b{i:020d}"
            if device == hot and i % 97 == 0 and i > size // 5:  # past what the cleanup deletes
                sample.append(ext)
            msg_id = i + 1
            message = (msg_id, device, ext, "Text", '{"text":"hello from the bench"}', state, None, None, None, 1,
                       0, 0, 0, stamp(created), stamp(created + timedelta(seconds=9)))
            recipients = [(msg_id, f"+1555{i:07d}", state)]
            if i % 7 == 0:
                recipients.append((msg_id, f"+1666{i:07d}", state))
            states = [(msg_id, "Pending", stamp(created)), (msg_id, "Sent", stamp(created + timedelta(seconds=3))),
                      (msg_id, state, stamp(created + timedelta(seconds=9)))]
            yield message, recipients, states
        for j in range(pending):
            i = size + j
            created = end - timedelta(seconds=pending - j)
            schedule = stamp(end + timedelta(hours=j % 5)) if j % 10 == 0 else None
            msg_id = i + 1
            yield ((msg_id, puller, f"p{i:020d}", "Text", '{"text":"waiting"}', "Pending", None, schedule, None, 1,
                    j % 3 - 1, 0, 0, stamp(created), stamp(created)),
                   [(msg_id, f"+1777{j:07d}", "Pending")], [(msg_id, "Pending", stamp(created))])

    insert_message = ("INSERT INTO messages (id, device_id, ext_id, type, content, state, valid_until, schedule_at, "
                      "sim_number, with_delivery_report, priority, is_hashed, is_encrypted, created_at, updated_at) "
                      f"VALUES ({', '.join([mark] * 15)})")
    insert_recipient = ("INSERT INTO message_recipients (message_id, phone_number, state) "
                        f"VALUES ({mark}, {mark}, {mark})")
    insert_state = f"INSERT INTO message_states (message_id, state, updated_at) VALUES ({mark}, {mark}, {mark})"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if postgresql:  # as on MariaDB: indexes after the rows; foreign keys unchecked (their triggers off)
            cursor.execute("SET session_replication_role = replica")
            cursor.execute("ALTER TABLE messages DROP CONSTRAINT unq_messages_id_device")
            cursor.execute(f"DROP INDEX {', '.join(name for name in LATE_INDEXES if not name.startswith('unq'))}")
        elif not sqlite:  # InnoDB builds an index far faster by sorting once than row by row: indexes come after
            cursor.execute("SET unique_checks=0, foreign_key_checks=0")
            cursor.execute(f"ALTER TABLE messages {', '.join(f'DROP INDEX {name}' for name in LATE_INDEXES)}")
        batch: tuple[list[Any], list[Any], list[Any]] = ([], [], [])
        for message, recipients, states in rows():
            batch[0].append(message)
            batch[1].extend(recipients)
            batch[2].extend(states)
            if len(batch[0]) >= CHUNK:
                (copy if postgresql else flush)(cursor, batch, insert_message, insert_recipient, insert_state)
                raw.commit()
        (copy if postgresql else flush)(cursor, batch, insert_message, insert_recipient, insert_state)
        if postgresql:
            for name, columns in LATE_INDEXES.items():
                if name.startswith("unq"):
                    cursor.execute(f"ALTER TABLE messages ADD CONSTRAINT {name} UNIQUE ({columns})")
                else:  # as migration 0005 builds them
                    columns = columns.replace("schedule_at", "schedule_at NULLS FIRST")
                    cursor.execute(f"CREATE INDEX {name} ON messages ({columns})")
            # ids were given here: the sequence moves past them, as AUTO_INCREMENT and SQLite do by themselves
            cursor.execute("SELECT setval('messages_id_seq', (SELECT MAX(id) FROM messages))")
        elif not sqlite:
            cursor.execute("ALTER TABLE messages " + ", ".join(
                f"ADD {'UNIQUE ' if name.startswith('unq') else ''}INDEX {name} ({columns})"
                for name, columns in LATE_INDEXES.items()))
        cursor.execute("DELETE FROM message_counts")
        cursor.execute("INSERT INTO message_counts (device_id, state, day, total) SELECT device_id, state, "
                       "DATE(created_at), COUNT(*) FROM messages GROUP BY device_id, state, DATE(created_at)")
        cursor.execute("ANALYZE" if sqlite else "ANALYZE messages, message_counts" if postgresql
                       else "ANALYZE TABLE messages, message_counts")
        raw.commit()
        if postgresql:  # every table's statistics (autovacuum would get there later) and the visibility map for
            # index-only scans; VACUUM runs outside a transaction
            raw.driver_connection.autocommit = True
            raw.cursor().execute("VACUUM ANALYZE")
    finally:
        raw.close()
        engine.dispose()
    settle(url)
    return time.monotonic() - started, sample


def settle(url: str) -> None:
    """Writes the bulk load's dirty pages out before anything is measured.

    Right after the load (and the index builds) InnoDB still holds up to its whole buffer pool of dirty pages and
    a full redo log, and flushes them in the background for tens of seconds, stalling the first requests (sends
    most: a write may have to wait for a free page or a checkpoint). A server that has run for a while is not in
    that state, so the bench waits for it: FLUSH TABLES ... FOR EXPORT writes these tables' pages out and returns
    (other databases on the server are left alone); PostgreSQL's CHECKPOINT does the same for its buffers; SQLite
    copies its write-ahead log into the database file (which its first writes would otherwise do)."""
    engine = create_engine(url, query_timeout=900)
    try:
        with engine.connect() as conn:
            if url.startswith("sqlite"):
                conn.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
            elif url.startswith("postgresql"):
                conn.execute(sa.text("CHECKPOINT"))
            else:
                conn.execute(sa.text("FLUSH TABLES messages, message_recipients, message_states, message_counts "
                                     "FOR EXPORT"))
                conn.execute(sa.text("UNLOCK TABLES"))
    finally:
        engine.dispose()


def copy(cursor: Any, batch: tuple[list[Any], list[Any], list[Any]], *statements: str) -> None:
    """PostgreSQL's bulk load: COPY into the columns each INSERT names."""
    for rows, statement in zip(batch, statements, strict=True):
        table_and_columns = statement.split(" VALUES ")[0].removeprefix("INSERT INTO ")
        with cursor.copy(f"COPY {table_and_columns} FROM STDIN") as load:
            for row in rows:
                load.write_row(row)
        rows.clear()


def flush(cursor: Any, batch: tuple[list[Any], list[Any], list[Any]], *statements: str) -> None:
    for rows, statement in zip(batch, statements, strict=True):
        if rows:
            cursor.executemany(statement, rows)
        rows.clear()


# --- the requests ---------------------------------------------------------------------------------------------
def timed(samples: int, call: Callable[[int], httpx.Response]) -> list[float]:
    return [sample(call, i) for i in range(samples)]


def sample(call: Callable[[int], httpx.Response], i: int) -> float:
    started = time.perf_counter()
    response = call(i)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code >= 400:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")
    return elapsed


def interleaved(samples: int, *calls: Callable[[int], httpx.Response]) -> list[list[float]]:
    """Each call's samples, taken in turns (one of each, then the next round): on a shared machine whose load
    comes and goes, both databases are measured under the same load, so their ratio is not the load's."""
    out: list[list[float]] = [[] for _ in calls]
    for i in range(samples):
        for call, times in zip(calls, out, strict=True):
            times.append(sample(call, i))
    return out


@dataclass
class Target:
    """One database behind its own live server, and the requests to time against it."""

    size: int
    url: str
    http: httpx.Client
    reads: dict[str, Callable[[int], httpx.Response]]
    writes: dict[str, Callable[[int], httpx.Response]]


def measure(backend: str, sizes: tuple[int, int], samples: int) -> tuple[dict[str, list[float]], ...]:
    """Both databases (small and big) up at once, each behind its own server; every request timed on both in
    turns."""
    with contextlib.ExitStack() as stack:
        targets = [stack.enter_context(target(backend, size)) for size in sizes]
        for t in targets:
            for call in t.reads.values():  # warm the server's and the database's caches
                timed(5, call)
        results: list[dict[str, list[float]]] = [{} for _ in targets]
        for name in [*targets[0].reads, *targets[0].writes]:
            calls = [t.reads.get(name) or t.writes[name] for t in targets]
            for out, times in zip(results, interleaved(samples, *calls), strict=True):
                out[name] = times
        for job in ("cleanup", "hashing"):
            names = ("GET /messages?limit=50", "GET /messages/{id}")
            # The job runs on the big database only; the small one, read at the same moments, is the control
            # for the machine's load (see `table`).
            with _while_job(job, targets[-1].url):
                for name in names:
                    both = interleaved(samples, *(t.reads[name] for t in targets))
                    for out, times in zip(results, both, strict=True):
                        out[f"{name} during {job} (on the big db)"] = times
        for t, out in zip(targets, results, strict=True):
            for name, samples_ms in out.items():  # as measured, in case a later stage fails
                p50, p99 = pct(samples_ms)
                print(f"  {t.size:,} {name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms", file=sys.stderr)
        return tuple(results)


@contextlib.contextmanager
def target(backend: str, size: int) -> Iterator[Target]:
    with tempfile.TemporaryDirectory(prefix="bigtables-") as tmp:
        workdir = Path(tmp)
        url = database_url(backend, workdir)
        engine = create_engine(url)
        upgrade(engine)
        engine.dispose()
        server = LiveServer(workdir, env={
            "DATABASE__URL": url, "GATEWAY__MODE": "public", "JWT__SECRET": "bench-" + "0123456789abcdef" * 3,
            "AUTH__FAILED_LOGIN_LIMIT": "0", "MESSAGES__HASHING_ENABLED": "false",
            "TASKS__MESSAGES_CLEANUP__INTERVAL": "0s", "TASKS__DEVICES_CLEANUP__INTERVAL": "0s",
            "TASKS__MESSAGES_COUNTS__INTERVAL": "0s",
        })
        server.start(timeout=60)
        try:
            with httpx.Client(base_url=server.base_url, timeout=60) as http:
                yield prepare(http, url, size)
        finally:
            server.stop()
            drop(url)


def prepare(http: httpx.Client, url: str, size: int) -> Target:
    phones = [http.post("/api/mobile/v1/device", json={"name": f"bench/{i}"}).json() for i in range(10)]
    hot, puller = phones[0], phones[1]
    pending = 50_000 if size >= 100_000 else 200
    seconds, sample = fill(url, [p["id"] for p in phones], hot["id"], puller["id"], size, pending)
    print(f"{url.split(':')[0]} {size:,}: filled in {seconds:.1f} s", file=sys.stderr)
    token = http.post(f"{TP}/auth/token", json={"scopes": ["all:any"]},
                      auth=(hot["login"], hot["password"])).json()["access_token"]
    user = {"Authorization": f"Bearer {token}"}
    phone = {"Authorization": f"Bearer {hot['token']}"}
    pull = {"Authorization": f"Bearer {puller['token']}"}
    hot_total = int(http.get(f"{TP}/messages", params={"limit": 1}, headers=user).headers["X-Total-Count"])
    deep = int(hot_total * 0.8)
    now = datetime.utcnow()
    window = {"from": (now - timedelta(days=20)).isoformat() + "Z", "to": (now - timedelta(days=5)).isoformat() + "Z"}
    deep_link = http.get(f"{TP}/messages", params={"limit": 50, "offset": deep}, headers=user).headers["Link"]
    after = deep_link.split("after=")[1].split(">")[0]
    sent: list[str] = []

    def send(i: int) -> httpx.Response:
        response = http.post(f"{TP}/messages", json={"textMessage": {"text": f"bench {i}"},
                                                      "phoneNumbers": ["+12025550143"]}, headers=user)
        if response.status_code >= 400:
            raise RuntimeError(response.text)
        sent.append(response.json()["id"])
        return response

    def report(i: int) -> httpx.Response:
        ext = sample[i % len(sample)]
        return http.patch("/api/mobile/v1/messages", headers=phone, json=[{
            "id": ext, "state": "Delivered", "recipients": [{"phoneNumber": "+15550000000", "state": "Delivered"}],
            "states": {"Delivered": now.isoformat() + "Z"}}])

    def listing(**params: Any) -> Callable[[int], httpx.Response]:
        return lambda _i: http.get(f"{TP}/messages", params={"limit": 50, **params}, headers=user)

    reads: dict[str, Callable[[int], httpx.Response]] = {
        "GET /messages?limit=50": listing(),
        "... &from&to (15 days)": listing(**window),
        "... &state=Delivered": listing(state="Delivered"),
        "... &state=Failed": listing(state="Failed"),
        "... &offset=80% (deep page)": listing(offset=deep),
        "... &after=cursor at 80%": listing(after=after),
        "GET /messages/{id}": lambda i: http.get(f"{TP}/messages/{sample[i % len(sample)]}", headers=user),
    }
    writes: dict[str, Callable[[int], httpx.Response]] = {
        "phone pull (200 pending; 50,000 on the big db)": lambda _i: http.get("/api/mobile/v1/messages", headers=pull),
        "POST /messages": send,
        "DELETE /messages/{id} (cancel)": lambda i: http.delete(f"{TP}/messages/{sent[i]}", headers=user),
        "PATCH (phone report)": report,
    }
    return Target(size, url, http, reads, writes)


@contextlib.contextmanager
def _while_job(job: str, url: str) -> Iterator[None]:
    """A job working through the database from a second process (as another server's periodic task would), so
    the job's Python does not share the server's or this process's interpreter lock."""
    worker = multiprocessing.get_context("spawn").Process(target=_job_main, args=(job, url), daemon=True)
    worker.start()
    time.sleep(1)  # the worker's imports and first batches
    try:
        yield
    finally:
        if worker.is_alive():
            worker.terminate()  # mid-batch: that batch's transaction is rolled back
        worker.join(10)


def _job_main(job: str, url: str) -> None:
    trio.run(_job, job, url)


async def _job(job: str, url: str) -> None:
    db = Database(url)
    maintenance = MaintenanceRepository(db)
    try:
        if job == "cleanup":  # a day's worth of the oldest messages
            oldest = await db.run(lambda c: c.execute(sa.text("SELECT MIN(created_at) FROM messages")).scalar())
            moment = oldest if isinstance(oldest, datetime) else datetime.fromisoformat(str(oldest))
            await maintenance.delete_messages_created_before(moment + timedelta(days=1))
        else:
            while await maintenance.hash_messages() > 0:
                pass
    finally:
        db.dispose()


if __name__ == "__main__":
    main()
