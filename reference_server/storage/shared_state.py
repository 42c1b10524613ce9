"""The shared-state port on the database (`cache.url: database://`): for several processes without Redis.

Every operation is one short transaction on the `shared_state` table; the row lock of an UPDATE (or SQLite's
single writer) makes counters and takes atomic across processes. Expiry is wall-clock time, which the
processes of one deployment share.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..domain.shared_state import MemoryState, SharedState, SharedStateUnavailable
from .database import Database, DatabaseUnavailable
from .tables import shared_state as table

T = TypeVar("T")
SWEEP_CHANCE = 0.01  # share of writes that also delete every expired row


def _now_ms() -> int:
    return int(time.time() * 1000)


class DatabaseState:
    shared = True

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn` in a transaction; a duplicate key (two processes inserting at once) is retried once."""
        try:
            try:
                return await self.db.run(fn, *args)
            except sa.exc.IntegrityError:
                return await self.db.run(fn, *args)
        except DatabaseUnavailable as exc:
            raise SharedStateUnavailable() from exc

    async def _look(self, fn: Callable[..., T], *args: Any) -> T:
        """A read: on its own connection, beside the writer (SQLite's WAL readers wait for no writer), nothing
        committed. Each cached login confirms its epoch here, so it must not queue behind group-commit batches."""
        try:
            return await self.db.read(fn, *args)
        except DatabaseUnavailable as exc:
            raise SharedStateUnavailable() from exc

    async def get(self, key: str) -> str | None:
        return await self._look(_get, key, _now_ms())

    async def set(self, key: str, value: str, ttl: float) -> None:
        await self._run(_upsert, key, value, _now_ms() + int(ttl * 1000))

    async def add(self, key: str, value: str, ttl: float) -> bool:
        try:
            await self.db.run(_add, key, value, _now_ms(), int(ttl * 1000))
        except sa.exc.IntegrityError:
            return False
        except DatabaseUnavailable as exc:
            raise SharedStateUnavailable() from exc
        return True

    async def take(self, key: str) -> str | None:
        return await self._run(_take, key, _now_ms())

    async def hit(self, key: str, window: float) -> tuple[int, float]:
        return await self._run(_hit, key, _now_ms(), int(window * 1000))

    async def count(self, key: str) -> tuple[int, float]:
        return await self._look(_count, key, _now_ms())

    async def unhit(self, key: str) -> None:
        await self._run(_unhit, key, _now_ms())

    async def read(self, key: str, counter: str) -> tuple[str | None, int, float]:
        return await self._look(_read, key, counter, _now_ms())


def _live(key: str, now: int) -> sa.ColumnElement[bool]:
    return sa.and_(table.c.key == key, table.c.expires_at > now)


def _drop_expired(conn: Connection, key: str, now: int) -> None:
    if random.random() < SWEEP_CHANCE:
        conn.execute(table.delete().where(table.c.expires_at <= now))
    else:
        conn.execute(table.delete().where(table.c.key == key, table.c.expires_at <= now))


def _get(conn: Connection, key: str, now: int) -> str | None:
    return conn.execute(sa.select(table.c.value).where(_live(key, now))).scalar()


def _upsert(conn: Connection, key: str, value: str, expires: int) -> None:
    if conn.execute(table.update().where(table.c.key == key).values(value=value, count=0, expires_at=expires)
                    ).rowcount == 0:
        conn.execute(table.insert().values(key=key, value=value, count=0, expires_at=expires))


def _add(conn: Connection, key: str, value: str, now: int, ttl: int) -> None:
    _drop_expired(conn, key, now)
    conn.execute(table.insert().values(key=key, value=value, count=0, expires_at=now + ttl))  # IntegrityError: taken


def _take(conn: Connection, key: str, now: int) -> str | None:
    # A write first: an SQLite transaction that only read could not become a writer after another process wrote.
    _drop_expired(conn, key, now)
    value = _get(conn, key, now)
    if value is None:
        return None
    # Of two processes that read the value, only one deletes the row.
    taken = conn.execute(table.delete().where(_live(key, now), table.c.value == value)).rowcount == 1
    return value if taken else None


def _hit(conn: Connection, key: str, now: int, window: int) -> tuple[int, float]:
    if conn.execute(table.update().where(_live(key, now)).values(count=table.c.count + 1)).rowcount == 0:
        _drop_expired(conn, key, now)
        conn.execute(table.insert().values(key=key, value="", count=1, expires_at=now + window))
    return _count(conn, key, now)


def _unhit(conn: Connection, key: str, now: int) -> None:
    if conn.execute(table.update().where(_live(key, now), table.c.count > 1).values(count=table.c.count - 1)
                    ).rowcount == 0:
        # the last event (or an ended window) ends; a hit that came in between keeps the row (errs strict)
        conn.execute(table.delete().where(table.c.key == key, sa.or_(table.c.count <= 1, table.c.expires_at <= now)))


def _read(conn: Connection, key: str, counter: str, now: int) -> tuple[str | None, int, float]:
    rows = {row[0]: (row[1], int(row[2]), (row[3] - now) / 1000) for row in conn.execute(
        sa.select(table.c.key, table.c.value, table.c.count, table.c.expires_at)
        .where(table.c.key.in_([key, counter]), table.c.expires_at > now))}
    value = rows[key][0] if key in rows else None
    _, count, left = rows.get(counter, (None, 0, 0.0))
    return value, count, left


def _count(conn: Connection, key: str, now: int) -> tuple[int, float]:
    row = conn.execute(sa.select(table.c.count, table.c.expires_at).where(_live(key, now))).first()
    return (int(row[0]), (row[1] - now) / 1000) if row else (0, 0.0)


def shared_state_for(url: str, db: Database) -> SharedState:
    """The adapter of `cache.url`: memory://, database:// (ours) or a Redis URL."""
    scheme = url.split(":", 1)[0]
    if scheme == "memory":
        return MemoryState()
    if scheme == "database":
        return DatabaseState(db)
    from .redis_state import RedisState

    return RedisState(url)
