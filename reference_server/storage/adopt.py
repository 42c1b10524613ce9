"""`smsgate-server db adopt`: take over, in place, a MariaDB/MySQL database made by upstream's Go server.

Upstream's schema (goose migrations, v1.46.2 to v1.47.1) and ours at revision `ADOPT_REVISION` hold the same
tables with the same columns; ours adds tables of its own and differs in types, collations and indexes. MariaDB
DDL commits as it goes, so the database is never altered step by step: this server's schema is built in a
scratch database beside it, the rows are copied into it and counted, and one multi-table `RENAME TABLE` (atomic)
moves upstream's tables aside under `BACKUP_PREFIX` and ours in. A failure before the rename drops the scratch
database and leaves the original as it was. Our later migrations then run on top (`upgrade head`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection, Engine

from .database import create_engine
from .migrate import GOOSE_TABLE, alembic_config, migration_lock

# The last goose migration of upstream v1.46.2 .. v1.47.1 (the `Cancelled` message state).
GOOSE_VERSION = 20260617000000
UPSTREAM_RELEASES = "v1.46.2 to v1.47.1"
ADOPT_REVISION = "0007"  # the revision whose tables the copy below fills; later ones run on top
BACKUP_PREFIX = "upstream_"
SCRATCH_SUFFIX = "_smsgate_adopt"

_TIMES = ("created_at", "updated_at")
# Upstream's tables, in an order that respects their foreign keys, and the columns copied (the same names in
# both schemas, as of ADOPT_REVISION: do not derive them from tables.py, which moves with head).
CARRIED: dict[str, tuple[str, ...]] = {
    "users": ("id", "password_hash", *_TIMES, "deleted_at"),
    "devices": ("id", "name", "auth_token", "push_token", "user_id", "sim_cards", "last_seen", *_TIMES,
                "deleted_at"),
    "messages": ("id", "device_id", "ext_id", "type", "content", "state", "valid_until", "schedule_at",
                 "sim_number", "with_delivery_report", "priority", "is_hashed", "is_encrypted", *_TIMES,
                 "deleted_at"),
    "message_recipients": ("id", "message_id", "phone_number", "state", "error"),
    "message_states": ("id", "message_id", "state", "updated_at"),
    "webhooks": ("id", "ext_id", "user_id", "url", "event", "device_id", *_TIMES, "deleted_at"),
    "device_settings": ("user_id", "settings", *_TIMES),
    "tokens": ("id", "user_id", "token_use", "parent_jti", "expires_at", "revoked_at", *_TIMES),
}
# Tables of ours at ADOPT_REVISION that upstream has not: built empty, except the counts, computed from messages.
OURS_ONLY = ("message_counts", "task_leases", "ca_requests", "shared_state", "inbox", "inbox_attachments",
             "alembic_version")
_COUNTS_SQL = ("INSERT INTO message_counts (device_id, state, day, total) "
               "SELECT device_id, state, DATE(created_at), COUNT(*) FROM {source}.messages "
               "GROUP BY device_id, state, DATE(created_at)")


class AdoptRefused(RuntimeError):
    """The database is not one this command can take over; the message says what was found."""


@dataclass
class Plan:
    database: str
    scratch: str
    goose_version: int
    rows: dict[str, int]  # upstream table -> rows
    others: list[str] = field(default_factory=list)  # tables left where they are

    def describe(self) -> list[str]:
        width = max(len(t) for t in (*CARRIED, "message_counts"))
        lines = [f"database `{self.database}`: made by the Go server (goose version {self.goose_version}, "
                 f"upstream {UPSTREAM_RELEASES})",
                 f"1. build this server's schema (revision {ADOPT_REVISION}) in a scratch database "
                 f"`{self.scratch}`",
                 "2. copy the rows of each table (same columns; SIM cards renamed to this server's fields):"]
        lines += [f"     {table:<{width}}  {n} row{'' if n == 1 else 's'}"
                  for table, n in ((t, self.rows[t]) for t in CARRIED)]
        lines += [f"     {'message_counts':<{width}}  computed from messages (ours only)",
                  f"   and create empty: {', '.join(t for t in OURS_ONLY if t not in ('message_counts',))}",
                  "3. check the copied row counts, then in one atomic RENAME TABLE:",
                  f"     move upstream's tables aside: {', '.join(self.moved_aside())} -> "
                  f"{BACKUP_PREFIX}<name>",
                  "     move this server's tables in under their names",
                  "4. drop the scratch database; apply this server's later migrations (upgrade head)"]
        if self.others:
            lines.append(f"tables left as they are: {', '.join(self.others)}")
        return lines

    @staticmethod
    def moved_aside() -> list[str]:
        return [*CARRIED, GOOSE_TABLE]


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def goose_version(conn: Connection) -> int:
    """The version goose reports: the highest one whose newest row says applied (a rollback adds a row)."""
    applied: dict[int, bool] = {}
    for version, is_applied in conn.execute(sa.text(f"SELECT version_id, is_applied FROM {GOOSE_TABLE} ORDER BY id")):
        applied[int(version)] = bool(is_applied)
    return max((v for v, ok in applied.items() if ok), default=0)


def plan_for(conn: Connection) -> Plan:
    """What adopting the connection's database would do; raises AdoptRefused naming what stands in the way."""
    dialect = conn.dialect.name
    if dialect not in ("mysql", "mariadb"):
        raise AdoptRefused(f"db adopt takes over the Go server's MariaDB/MySQL database; this one is {dialect}")
    database = str(conn.execute(sa.text("SELECT DATABASE()")).scalar() or "")
    if not database:
        raise AdoptRefused("the database URL names no database")
    names = set(sa.inspect(conn).get_table_names())
    if "alembic_version" in names:
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        raise AdoptRefused(f"`{database}` is already this server's database (alembic revision {revision}); "
                           "nothing to adopt")
    if GOOSE_TABLE not in names:
        if not names:
            raise AdoptRefused(f"`{database}` is empty: there is nothing to adopt; start the server (or run "
                               "`smsgate-server db upgrade`) to create this server's schema")
        raise AdoptRefused(f"`{database}` was not made by the Go server: it has no `{GOOSE_TABLE}` table "
                           f"(tables found: {', '.join(sorted(names))})")
    version = goose_version(conn)
    if version != GOOSE_VERSION:
        advice = (f"run the Go server {UPSTREAM_RELEASES.split()[-1]} on it once (it migrates on start), then adopt"
                  if version < GOOSE_VERSION else "that schema is newer than this server knows")
        raise AdoptRefused(f"`{database}` is at goose version {version}; db adopt takes over the schema of "
                           f"upstream {UPSTREAM_RELEASES} (goose version {GOOSE_VERSION}): {advice}")
    missing = [t for t in CARRIED if t not in names]
    if missing:
        raise AdoptRefused(f"`{database}` has goose version {version} but lacks the tables {', '.join(missing)}")
    for table, wanted in CARRIED.items():
        columns = {c["name"] for c in sa.inspect(conn).get_columns(table)}
        absent = [c for c in wanted if c not in columns]
        if absent:
            raise AdoptRefused(f"table `{table}` of `{database}` lacks the columns {', '.join(absent)}")
    taken = sorted(n for n in names if n in OURS_ONLY or n in {BACKUP_PREFIX + t for t in Plan.moved_aside()})
    if taken:
        raise AdoptRefused(f"`{database}` already has tables named {', '.join(taken)}, which adopting would "
                           "create; rename or drop them first")
    scratch = database + SCRATCH_SUFFIX
    if conn.execute(sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :name"),
                    {"name": scratch}).first():
        raise AdoptRefused(f"a database named `{scratch}` exists (left by an interrupted adopt?); "
                           "drop it and run db adopt again")
    rows = {t: int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {_quote(t)}")).scalar_one()) for t in CARRIED}
    others = sorted(names - set(CARRIED) - {GOOSE_TABLE})
    return Plan(database=database, scratch=scratch, goose_version=version, rows=rows, others=others)


def adopt(engine: Engine, *, dry_run: bool = False, say: Callable[[str], None] = print,
          query_timeout: float = 300) -> Plan:
    """Takes the engine's database over (see the module's text); with `dry_run`, only says what it would do."""
    with migration_lock(engine):
        with engine.connect() as conn:
            plan = plan_for(conn)
        for line in plan.describe():
            say(line)
        if dry_run:
            say("nothing was changed (--dry-run)")
            return plan
        try:
            _build_and_swap(engine, plan, query_timeout)
        except AdoptRefused:
            raise
        except Exception as exc:  # whatever it was, the swap did not happen: say so, with the cause
            cause = getattr(exc, "orig", None) or exc
            raise AdoptRefused(f"adopting failed before the switch, so `{plan.database}` was left as it was: "
                               f"{type(cause).__name__}: {' '.join(str(cause).split())}") from exc
        say(f"adopted: upstream's tables are kept as {BACKUP_PREFIX}<name>; drop them once all is well")
        command.upgrade(alembic_config(engine), "head")
        say("database is up to date")
    return plan


def _build_and_swap(engine: Engine, plan: Plan, query_timeout: float) -> None:
    with _scratch_database(engine, plan.scratch, query_timeout) as scratch:
        command.upgrade(alembic_config(scratch), ADOPT_REVISION)
        built = set(sa.inspect(scratch).get_table_names())
        if built != {*CARRIED, *OURS_ONLY}:  # the lists above were not kept in step with ADOPT_REVISION
            raise RuntimeError(f"revision {ADOPT_REVISION} built the tables {sorted(built)}, not those listed here")
        with scratch.begin() as conn:
            for table, columns in CARRIED.items():
                copy_table(conn, plan.database, table, columns)
            convert_sim_cards(conn)
            conn.execute(sa.text(_COUNTS_SQL.format(source=_quote(plan.database))))
        verify(scratch, engine, plan)
        with engine.connect() as conn:
            conn.execute(sa.text(_swap_statement(plan)))
            conn.commit()


def copy_table(conn: Connection, source: str, table: str, columns: tuple[str, ...]) -> None:
    names = ", ".join(_quote(c) for c in columns)
    conn.execute(sa.text(f"INSERT INTO {_quote(table)} ({names}) SELECT {names} FROM {_quote(source)}.{_quote(table)}"))


# Upstream keeps a device's SIM cards as its API spells them (camelCase, absent fields left out); we keep the
# fields of our SimCard.
_SIM_KEYS = {"slotIndex": "slot_index", "simNumber": "sim_number", "phoneNumber": "phone_number",
             "carrierName": "carrier_name", "iccid": "iccid"}


def convert_sim_cards(conn: Connection) -> None:
    rows = conn.execute(sa.text("SELECT id, sim_cards FROM devices WHERE JSON_LENGTH(sim_cards) > 0")).all()
    updates = [{"id": device_id, "cards": json.dumps([{ours: card.get(theirs) for theirs, ours in _SIM_KEYS.items()}
                                                      for card in json.loads(raw)])}
               for device_id, raw in rows]
    if updates:
        conn.execute(sa.text("UPDATE devices SET sim_cards = :cards WHERE id = :id"), updates)


def verify(scratch: Engine, engine: Engine, plan: Plan) -> None:
    """The copy holds as many rows as the original, counted again now (the Go server must be stopped)."""
    with scratch.connect() as copied, engine.connect() as original:
        for table in CARRIED:
            ours = copied.execute(sa.text(f"SELECT COUNT(*) FROM {_quote(table)}")).scalar_one()
            theirs = original.execute(sa.text(f"SELECT COUNT(*) FROM {_quote(table)}")).scalar_one()
            if ours != theirs:
                raise AdoptRefused(f"`{table}`: {theirs} rows in the original, {ours} copied (is the Go server "
                                   f"still running?); `{plan.database}` was left as it was")


def _swap_statement(plan: Plan) -> str:
    db, scratch = _quote(plan.database), _quote(plan.scratch)
    aside = [f"{db}.{_quote(t)} TO {db}.{_quote(BACKUP_PREFIX + t)}" for t in plan.moved_aside()]
    ours = [f"{scratch}.{_quote(t)} TO {db}.{_quote(t)}" for t in (*CARRIED, *OURS_ONLY)]
    return "RENAME TABLE " + ", ".join(aside + ours)  # one statement: all of it happens, or none


@contextmanager
def _scratch_database(engine: Engine, name: str, query_timeout: float) -> Iterator[Engine]:
    """A new database on the same server with the original's character set and collation, dropped on the way
    out (after the swap it holds nothing; after a failure, the half-built schema)."""
    with engine.connect() as conn:
        charset, collation = conn.execute(sa.text(
            "SELECT default_character_set_name, default_collation_name FROM information_schema.schemata "
            "WHERE schema_name = DATABASE()")).one()
        conn.execute(sa.text(f"CREATE DATABASE {_quote(name)} CHARACTER SET {charset} COLLATE {collation}"))
    url = engine.url.set(database=name).render_as_string(hide_password=False)
    scratch = create_engine(url, pool_size=2, query_timeout=query_timeout)
    try:
        yield scratch
    finally:
        scratch.dispose()
        with engine.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {_quote(name)}"))
