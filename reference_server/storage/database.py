"""A synchronous SQLAlchemy engine driven from Trio: every unit of work runs in a worker thread."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
import trio
from sqlalchemy.engine import Engine

from . import deadline as deadlines
from .batching import Batcher, Many, statement_error

log = logging.getLogger(__name__)
T = TypeVar("T")
READERS = 4  # SQLite reader threads (and connections) beside the writer


class DatabaseUnavailable(Exception):
    """The database could not be reached or answered with an operational error."""


def create_engine(url: str, *, pool_size: int = 8, echo: bool = False, connect_timeout: float = 5,
                  query_timeout: float = 30) -> Engine:
    """`connect_timeout` bounds a MySQL/PostgreSQL connect and the wait for a pooled connection; `query_timeout` each
    socket read or write (PostgreSQL: each statement), so that a hung (not just stopped) database server fails a
    request instead of holding it.

    Statement parameters never reach logs or exception texts (they carry tokens and password hashes).
    """
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            parsed,
            echo=echo,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": 10},
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "mysql":
        connect_args = {"connect_timeout": max(1, round(connect_timeout)),
                        "read_timeout": max(1, round(query_timeout)), "write_timeout": max(1, round(query_timeout))}
    elif parsed.get_backend_name() == "postgresql":
        connect_args = _postgresql_timeouts(connect_timeout, query_timeout)
    return sa.create_engine(
        parsed,
        echo=echo,
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_timeout=connect_timeout,
        connect_args=connect_args,
    )


def one_line(exc: BaseException) -> str:
    """A driver error in one line fit for a log: SQLAlchemy's text carries the statement and a link over several
    lines; the driver's own message is the news."""
    cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    text = " ".join(str(cause).split()) or type(cause).__name__
    return f"{type(cause).__name__}: {text}"


def _postgresql_timeouts(connect_timeout: float, query_timeout: float) -> dict[str, Any]:
    """libpq's forms of MySQL's socket timeouts: a statement running longer than `query_timeout` is cancelled by
    the server; unacknowledged writes and a silent peer (keepalives) fail the connection within about as long."""
    query_ms = max(1000, round(query_timeout * 1000))
    idle = max(1, round(query_timeout / 3))
    return {"connect_timeout": max(2, round(connect_timeout)),  # libpq treats 1 as 2
            "options": f"-c statement_timeout={query_ms}", "tcp_user_timeout": query_ms,
            "keepalives": 1, "keepalives_idle": idle, "keepalives_interval": idle, "keepalives_count": 3}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL survives a killed process without losing committed transactions and lets readers run alongside.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Database:
    """Runs callables on a pooled connection inside a transaction, in a thread, under a CapacityLimiter."""

    def __init__(self, url: str, *, pool_size: int = 8, echo: bool = False, connect_timeout: float = 5,
                 query_timeout: float = 30) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size, echo=echo, connect_timeout=connect_timeout,
                                    query_timeout=query_timeout)
        # SQLite has one writer at a time: serialising in-process avoids "database is locked" churn.
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.limiter = trio.CapacityLimiter(1 if self.is_sqlite else pool_size)
        # Reads on SQLite (WAL) take their own connections beside the one writer: they wait neither for the
        # writer nor for each other. Elsewhere they share the pool's limiter.
        self.read_limiter = trio.CapacityLimiter(READERS) if self.is_sqlite else self.limiter
        self.batcher = Batcher(self.engine, self.limiter, self._transaction, self._mapped,
                               concurrency=1 if self.is_sqlite else min(pool_size, 4))
        deadlines.track_writes(self.engine)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(connection, *args)` in one transaction; commit on return, roll back on error.

        Within a request (see `deadline`) the COMMIT happens only if the request's deadline has not passed, and
        the request stops waiting when it passes: the worker thread then rolls back whenever it gets there."""
        deadline = deadlines.current.get()
        return await trio.to_thread.run_sync(self._transaction, fn, args, deadline, limiter=self.limiter,
                                             abandon_on_cancel=deadline is not None)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """As `run`, for units that only read (nothing is committed). Within a request the caller stops waiting
        at its deadline, as with `run` (a frozen database answers 503, not after the query timeout)."""
        return await trio.to_thread.run_sync(self._read, fn, args, limiter=self.read_limiter,
                                             abandon_on_cancel=deadlines.current.get() is not None)

    def _read(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            with self.engine.connect() as conn:
                return fn(conn, *args)
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
            mapped = self._mapped(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    async def batched(self, fn: Callable[..., T], *args: Any, many: Many | None = None) -> T:
        """As `run`, but `fn` may share its transaction with the units of concurrent requests (group commit,
        see `batching`): for the short units of busy routes. Its effects are committed when it returns.
        `many` does the work of several such units at once (`batching.Many`)."""
        return await self.batcher.run(fn, args, many)  # type: ignore[no-any-return]

    def _transaction(self, fn: Callable[..., T], args: tuple[Any, ...],
                     deadline: deadlines.Deadline | None = None) -> T:
        try:
            with self.engine.begin() as conn:
                deadlines.wrote(conn)
                result = fn(conn, *args)
                deadlines.commit(conn, [deadline], [deadlines.wrote(conn)], unknown_on_failure=not self.is_sqlite)
                return result
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
            mapped = self._mapped(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    @staticmethod
    def _mapped(exc: Exception) -> Exception:
        """What callers see of a driver error: DatabaseUnavailable unless one statement's data was at fault."""
        if not isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError):
            return exc
        if isinstance(exc, sa.exc.OperationalError) and statement_error(exc):
            return exc
        log.warning("database unavailable: %s", exc.__class__.__name__)
        error = DatabaseUnavailable(str(exc.orig) if hasattr(exc, "orig") else str(exc))
        error.__cause__ = exc
        return error

    async def ping(self, within: float = math.inf) -> bool:
        """Whether the database answers `SELECT 1` within `within` seconds (waiting for a connection included)."""
        with trio.move_on_after(within):
            try:
                await trio.to_thread.run_sync(self._transaction, _select_one, (), limiter=self.limiter,
                                              abandon_on_cancel=True)
                return True
            except DatabaseUnavailable:
                return False
        return False

    def dispose(self) -> None:
        self.engine.dispose()


def _select_one(conn: sa.Connection) -> Any:
    return conn.execute(sa.text("SELECT 1")).scalar()
