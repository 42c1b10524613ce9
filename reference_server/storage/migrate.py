"""Alembic migrations run programmatically: `smsgate-server db upgrade` and upgrade-on-start.

Replicas started together (a Kubernetes rollout, `docker compose up --scale`) all upgrade on start, so an
upgrade runs under a lock held across processes: a named lock on MariaDB/MySQL (`GET_LOCK`), an advisory
lock on PostgreSQL, an exclusive lock on a file beside an SQLite database. The others wait, then find the
schema at head and have nothing left to do. MariaDB DDL is not transactional: without the lock two
processes would interleave their `CREATE TABLE`s and leave a half-migrated schema.
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
LOCK_NAME = "smsgate-migrations"
PG_LOCK_KEY = 0x5D5_6A7E  # any constant shared by every process of this application
LOCK_WAIT_SECONDS = 600.0  # a long migration of a big table may take minutes; then give up with an error
_POLL_SECONDS = 0.5


GOOSE_TABLE = "goose_db_version"  # upstream's (goose) record of its migrations


class UpstreamDatabase(RuntimeError):
    """A plain upgrade met a database of upstream's Go server: it must be adopted (`db adopt`), not migrated over."""


class MigrationLockTimeout(RuntimeError):
    """Another process held the migration lock for longer than we were willing to wait."""


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str | None:
    """The newest revision among the migrations shipped with this code."""
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head", wait: float = LOCK_WAIT_SECONDS) -> None:
    with migration_lock(engine, wait):
        with engine.connect() as connection:
            check_not_upstream(connection)
        command.upgrade(alembic_config(engine), revision)


def check_not_upstream(connection: Connection) -> None:
    """Raises UpstreamDatabase when the database was made by the Go server and is not ours yet: our migrations
    would build this server's tables beside (or fail over) upstream's, and the data would be lost to the server."""
    names = set(sa.inspect(connection).get_table_names())
    if GOOSE_TABLE in names and "alembic_version" not in names:
        raise UpstreamDatabase(
            f"this database was made by upstream's Go server (it has goose's `{GOOSE_TABLE}` table and no "
            "`alembic_version`), so this server's migrations were not run over it. Take it over with "
            "`smsgate-server db adopt --dry-run`, then `smsgate-server db adopt` (docs: moving from the Go server)")


def downgrade(engine: Engine, revision: str, wait: float = LOCK_WAIT_SECONDS) -> None:
    with migration_lock(engine, wait):
        command.downgrade(alembic_config(engine), revision)


@contextmanager
def migration_lock(engine: Engine, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold the cross-process migration lock of the engine's database for the duration of the block."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            yield  # a private in-memory database: no other process can see it
            return
        with _file_lock(Path(database).with_name(Path(database).name + ".migrate-lock"), wait):
            yield
        return
    if dialect not in ("mysql", "mariadb", "postgresql"):
        yield
        return
    # The lock lives on its own connection, held (outside any transaction) while Alembic works on another.
    with engine.connect() as connection:
        if dialect == "postgresql":
            try_lock = "SELECT pg_try_advisory_lock(:key)"
            unlock = "SELECT pg_advisory_unlock(:key)"
            params: dict[str, object] = {"key": PG_LOCK_KEY}
        else:
            try_lock = "SELECT GET_LOCK(:key, 0)"
            unlock = "SELECT RELEASE_LOCK(:key)"
            params = {"key": LOCK_NAME}

        def acquire() -> bool:
            acquired = bool(connection.execute(sa.text(try_lock), params).scalar())
            connection.commit()  # the lock is the session's, not the transaction's
            return acquired

        try:
            _wait_for(acquire, wait, f"the database lock '{LOCK_NAME}'")
            try:
                yield
            finally:
                _release(connection, unlock, params)
        finally:
            connection.invalidate()  # closed, not pooled: the pool is left as a plain upgrade would leave it


def _release(connection: Connection, unlock: str, params: dict[str, object]) -> None:
    try:
        connection.execute(sa.text(unlock), params)
        connection.commit()
    except sa.exc.DBAPIError:  # the connection is gone, and the lock with it
        log.debug("could not release the migration lock", exc_info=True)


@contextmanager
def _file_lock(path: Path, wait: float) -> Iterator[None]:
    # flock is released by the kernel when the process dies, so a killed migration leaves no stale lock.
    with open(path, "a+b") as handle:

        def acquire() -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        _wait_for(acquire, wait, f"the lock file {path}")
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _wait_for(acquire: Callable[[], bool], wait: float, what: str) -> None:
    if acquire():
        return
    log.info("another process is migrating the database; waiting up to %.0f s for %s", wait, what)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        if acquire():
            log.info("migration lock acquired")
            return
    raise MigrationLockTimeout(f"another process held {what} for more than {wait:.0f} s")
