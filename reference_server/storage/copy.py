"""`smsgate-server db copy`: a whole deployment from one database to another (SQLite, MariaDB, PostgreSQL).

Tables go in dependency order (parents first), each in primary-key order, one batch per target transaction.
The target thus always holds, per table, a prefix of the source's rows in the source's order: a rerun finds
where each table stopped by counting the target's rows, checks that the source's row at that position is
there, and continues after it. A marker row in the target's `shared_state` (not copied, see EPHEMERAL) names
the source while a copy is under way: it tells a resumable target from one that holds other data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .database import create_engine, one_line
from .migrate import current_revision, head_revision, upgrade
from .tables import metadata, shared_state

# Per-process state of a running deployment: leases of periodic tasks (a new process takes them anew) and the
# shared state of `cache.url: database://` (one-time codes that live minutes, failed-login counters, epochs of
# in-process credential caches that start empty anyway). Copying them would hand a stale lease or code over.
EPHEMERAL = ("task_leases", "shared_state")
MARKER_KEY = "smsgate:db-copy"
MARKER_EXPIRES_MS = 2**62  # never, for the database-backed shared state's sweep
DEFAULT_BATCH = 1000


class CopyError(Exception):
    """Bad input or a state we refuse to copy from or into; the message is for the operator."""

    exit_code = 2


class CopyFailed(CopyError):
    """A database failed half-way (connection lost, a row the target would not take): what is copied stays."""

    exit_code = 1


class Progress(Protocol):
    def table(self, name: str, total: int, done: int) -> None: ...

    def advance(self, name: str, rows: int) -> None: ...


@dataclass
class TableCount:
    name: str
    source: int
    target: int

    @property
    def matches(self) -> bool:
        return self.source == self.target


@dataclass
class CopyResult:
    resumed: bool
    counts: list[TableCount] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return all(count.matches for count in self.counts)


def data_tables() -> list[sa.Table]:
    """The tables copied, parents before children."""
    return [table for table in metadata.sorted_tables if table.name not in EPHEMERAL]


def open_engine(url: str, role: str) -> Engine:
    """An engine on `url`, having checked the URL and that the database answers."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise CopyError(f"{role}: not a database URL: {_safe(url)}") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "mysql", "mariadb", "postgresql"):
        raise CopyError(f"{role}: unsupported database '{parsed.drivername}' (use sqlite:///, "
                        "mysql+pymysql:// or postgresql+psycopg://)")
    if backend == "sqlite" and role == "source":
        path = parsed.database or ""
        if not path or path == ":memory:" or not Path(path).is_file():
            raise CopyError(f"source: no SQLite database at {path or '(no path)'}")
    try:
        engine = create_engine(parsed.render_as_string(hide_password=False), connect_timeout=10, query_timeout=300)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except (sa.exc.NoSuchModuleError, ImportError):
        raise CopyError(f"{role}: unsupported database driver '{parsed.drivername}' (use sqlite:///, "
                        "mysql+pymysql:// or postgresql+psycopg://)") from None
    except sa.exc.SQLAlchemyError as exc:
        raise CopyError(f"{role}: cannot connect to {_safe(url)}: {one_line(exc)}") from None
    return engine


def same_database(a: str, b: str) -> bool:
    first, second = sa.make_url(a), sa.make_url(b)
    if first.get_backend_name() == second.get_backend_name() == "sqlite":
        return Path(first.database or "").resolve() == Path(second.database or "").resolve()

    def where(url: sa.URL) -> tuple[object, ...]:
        backend = "mysql" if url.get_backend_name() == "mariadb" else url.get_backend_name()
        return backend, url.host or "localhost", url.port or {"mysql": 3306, "postgresql": 5432}.get(backend), \
            url.database

    return where(first) == where(second)


def check_urls(source: str, target: str) -> None:
    try:
        if same_database(source, target):
            raise CopyError("--from and --to name the same database")
    except sa.exc.ArgumentError:
        pass  # open_engine says which URL is wrong


def check_source(source: Engine) -> None:
    """The source's schema must be the one this code copies: at the newest revision."""
    head = head_revision()
    at = current_revision(source)
    if at != head:
        raise CopyError(f"source: the schema is at revision {at or '(none)'}, not at {head}; "
                        "upgrade it first with `smsgate-server db upgrade` run against it")


def prepare(target: Engine, source_url: str, force: bool) -> bool:
    """Migrate the target, decide between a fresh copy and a resume.
    Returns whether the copy resumes an interrupted one."""
    try:
        upgrade(target)
    except Exception as exc:  # noqa: BLE001 - Alembic and the drivers raise many kinds; the operator gets one line
        raise CopyError(f"target: migration failed: {one_line(exc)}") from None
    identity = _identity(source_url)
    with target.connect() as conn:
        marker = conn.execute(sa.select(shared_state.c.value).where(shared_state.c.key == MARKER_KEY)).scalar()
        occupied = [t.name for t in data_tables() if conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()]
    if force:
        _wipe(target)
    elif marker is not None and marker != identity:
        raise CopyError(f"target holds an interrupted copy of another source ({marker}); "
                        "use --force to empty it and start over")
    elif marker is None and occupied:
        raise CopyError(f"target is not empty (rows in {', '.join(occupied)}); "
                        "use --force to delete them and copy anew")
    resumed = not force and marker is not None
    with target.begin() as conn:
        if force or marker is None:
            conn.execute(shared_state.delete().where(shared_state.c.key == MARKER_KEY))
            conn.execute(shared_state.insert().values(key=MARKER_KEY, value=identity, count=0,
                                                      expires_at=MARKER_EXPIRES_MS))
    return resumed


def copy_tables(source: Engine, target: Engine, batch_size: int, progress: Progress) -> None:
    for table in data_tables():
        _copy_table(source, target, table, batch_size, progress)
    fix_sequences(target)
    refresh_statistics(target)


def finish(source: Engine, target: Engine) -> list[TableCount]:
    """The final count of every copied table on both sides; the marker goes once they all match."""
    counts = []
    for table in data_tables():
        counts.append(TableCount(table.name, _count(source, table), _count(target, table)))
    if all(count.matches for count in counts):
        with target.begin() as conn:
            conn.execute(shared_state.delete().where(shared_state.c.key == MARKER_KEY))
    return counts


def copy_database(source_url: str, target_url: str, *, batch_size: int = DEFAULT_BATCH, force: bool = False,
                  progress: Progress | None = None,
                  on_resume: Callable[[], None] | None = None) -> CopyResult:
    """The whole command without its output: raises CopyError on bad input."""
    if batch_size < 1:
        raise CopyError("--batch-size must be at least 1")
    check_urls(source_url, target_url)
    source = open_engine(source_url, "source")
    try:
        check_source(source)
        target = open_engine(target_url, "target")
        try:
            resumed = prepare(target, source_url, force)
            if resumed and on_resume:
                on_resume()
            copy_tables(source, target, batch_size, progress or _Silent())
            return CopyResult(resumed, finish(source, target))
        finally:
            target.dispose()
    except sa.exc.SQLAlchemyError as exc:  # outside a table's batches: a check, the marker, a sequence, a count
        raise CopyFailed(f"{one_line(exc)}; run the same command again to resume") from None
    finally:
        source.dispose()


def _copy_table(source: Engine, target: Engine, table: sa.Table, batch_size: int, progress: Progress) -> None:
    key = list(table.primary_key.columns)
    total = _count(source, table)
    done = _count(target, table)
    last = _resume_key(source, target, table, key, done) if done else None
    progress.table(table.name, total, done)
    try:
        for rows in _batches(source, table, key, last, batch_size):
            with target.begin() as conn:
                conn.execute(table.insert(), rows)
            progress.advance(table.name, len(rows))
    except sa.exc.IntegrityError as exc:
        raise CopyFailed(f"{table.name}: the target already holds a row of the next batch ({one_line(exc)}): the "
                         "source changed since the copy was interrupted; use --force to start over") from None
    except sa.exc.SQLAlchemyError as exc:
        raise CopyFailed(f"{table.name}: {one_line(exc)}; the rows copied so far stay, run the same command "
                         "again to resume") from None


def _resume_key(source: Engine, target: Engine, table: sa.Table, key: list[sa.Column[Any]],
                done: int) -> tuple[Any, ...]:
    """The key of the last row already copied: the source's row number `done` in key order, which must be in
    the target (else the target is not a prefix of this source)."""
    with source.connect() as conn:
        row = conn.execute(sa.select(*key).order_by(*key).offset(done - 1).limit(1)).first()
    if row is None:
        raise CopyError(f"target: {table.name} holds {done} rows, more than the source: the source changed "
                        "since the copy was interrupted, or the target holds other data; use --force to start over")
    with target.connect() as conn:
        found = conn.execute(sa.select(sa.func.count()).select_from(table)
                             .where(sa.and_(*(column == value for column, value in zip(key, row, strict=True))))
                             ).scalar()
    if not found:
        raise CopyError(f"target: {table.name} lacks the source's row number {done}: the source changed since "
                        "the copy was interrupted, or the target holds other data; use --force to start over")
    return tuple(row)


def _batches(source: Engine, table: sa.Table, key: list[sa.Column[Any]], last: tuple[Any, ...] | None,
             batch_size: int) -> Iterator[list[dict[str, Any]]]:
    while True:
        query = sa.select(table).order_by(*key).limit(batch_size)
        if last is not None:
            query = query.where(sa.tuple_(*key) > sa.tuple_(*last) if len(key) > 1 else key[0] > last[0])
        with source.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query)]
        if not rows:
            return
        yield rows
        last = tuple(rows[-1][column.name] for column in key)
        if len(rows) < batch_size:
            return


def fix_sequences(target: Engine) -> None:
    """Ids were inserted as they were: the next id the target hands out must come after them. MariaDB and
    SQLite move their counters on an explicit insert; PostgreSQL's sequences do not."""
    if target.dialect.name != "postgresql":
        return
    with target.begin() as conn:
        for table in data_tables():
            column = table.autoincrement_column
            if column is None:
                continue
            conn.execute(sa.text(
                f"SELECT setval(pg_get_serial_sequence(:table, :column), COALESCE(MAX({column.name}), 1), "
                f"MAX({column.name}) IS NOT NULL) FROM {table.name}"), {"table": table.name, "column": column.name})


def refresh_statistics(target: Engine) -> None:
    """The planner's statistics for the rows just written: without them PostgreSQL's first plans for the list and
    the pull scan whole tables (5-20x slower until autovacuum comes by). MariaDB keeps its own persistent
    statistics up to date; SQLite's ANALYZE is cheap and helps its planner too."""
    if target.dialect.name == "postgresql":
        with target.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))
    elif target.dialect.name == "sqlite":
        with target.begin() as conn:
            conn.execute(sa.text("ANALYZE"))


def _wipe(target: Engine) -> None:
    with target.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)


def _identity(url: str) -> str:
    """Who the source is, as the marker keeps it: the URL without its password (an SQLite path made absolute)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        parsed = parsed.set(database=str(Path(parsed.database).resolve()))
    return parsed.render_as_string(hide_password=True)[:255]


def _safe(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url.split("@")[-1][:200]


class _Silent:
    def table(self, name: str, total: int, done: int) -> None:
        pass

    def advance(self, name: str, rows: int) -> None:
        pass
