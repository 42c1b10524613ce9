"""Message counts kept as data: per device, state and creation day (UTC), written in the same transaction as
the message rows they count, so `X-Total-Count` sums a few rows instead of counting half a million.

Boundary days of a `from`/`to` range are counted on the rows themselves (an index range of one day at most);
whole days come from the counts. `recount` rebuilds every device's counts from the rows (the periodic
"messages:counts" task), which repairs drift left by a crash or a hand edit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from .tables import devices, message_counts, messages

Key = tuple[str, str, date]  # device_id, state, day


def day_of(moment: datetime) -> date:
    return moment.date()


def bump(conn: Connection, deltas: Counter[Key]) -> None:
    """Adds the deltas to the counts when this transaction commits (see `install`)."""
    pending: Counter[Key] = conn.info.setdefault(_PENDING, Counter())
    pending.update(deltas)


_PENDING = "smsgate_count_deltas"


def install(engine: Engine) -> None:
    """Writes each transaction's count deltas just before its COMMIT, all at once and in key order.

    Count rows are hot (every send to a device adds to the same row): taken last, after every message row a
    transaction locks, and always in the same order, they cannot close a lock cycle on MariaDB, even when
    group commit puts the units of several requests (each locking messages) in one transaction.
    """
    if not sa.event.contains(engine, "commit", _flush):
        sa.event.listen(engine, "commit", _flush)
        sa.event.listen(engine, "rollback", _discard)


def _flush(conn: Connection) -> None:
    deltas: Counter[Key] | None = conn.info.pop(_PENDING, None)
    rows = [{"device_id": d, "state": s, "day": day, "total": n}
            for (d, s, day), n in sorted((deltas or {}).items()) if n]
    if rows:
        conn.execute(_upsert(conn.dialect.name), rows)


def _discard(conn: Connection) -> None:
    # A connection lost mid-transaction (the database went away) is invalidated: reading its `info` would raise
    # PendingRollbackError out of the rollback (a 500 instead of the 503 for an unavailable database), and the
    # pool clears that `info` anyway before it hands out the record's next connection.
    if conn.invalidated:
        return
    conn.info.pop(_PENDING, None)


def moved(deltas: Counter[Key], device_id: str, created_at: datetime, old: str, new: str) -> None:
    if old != new:
        day = day_of(created_at)
        deltas[(device_id, old, day)] -= 1
        deltas[(device_id, new, day)] += 1


def _upsert(dialect: str) -> Any:
    total = message_counts.c.total
    if dialect == "sqlite":
        stmt = sqlite.insert(message_counts)
        return stmt.on_conflict_do_update(index_elements=["device_id", "state", "day"],
                                          set_={"total": total + stmt.excluded.total})
    if dialect == "postgresql":
        pstmt = postgresql.insert(message_counts)
        return pstmt.on_conflict_do_update(index_elements=["device_id", "state", "day"],
                                           set_={"total": total + pstmt.excluded.total})
    mstmt = mysql.insert(message_counts)
    return mstmt.on_duplicate_key_update(total=total + mstmt.inserted.total)


def count(conn: Connection, device_ids: Sequence[str], state: str | None, since: datetime | None,
          until: datetime | None) -> int:
    """How many messages of these devices match; exact, reading at most two days of rows."""
    if not device_ids:
        return 0
    whole: list[sa.ColumnElement[bool]] = [message_counts.c.device_id.in_(device_ids)]
    if state:
        whole.append(message_counts.c.state == state)
    partial: list[tuple[datetime, datetime, date]] = []
    first = day_of(since) if since is not None else None
    last = day_of(until) if until is not None else None
    if first is not None and last is not None and first == last:
        return _count_rows(conn, device_ids, state, since, until)
    if first is not None and since is not None:  # the first day from `since` on: a part of its day
        whole.append(message_counts.c.day > first)
        partial.append((since, _next_day_start(first), first))
    if last is not None and until is not None:  # the last day up to `until`
        whole.append(message_counts.c.day < last)
        partial.append((_start(last), until, last))
    total = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(message_counts.c.total), 0))
                         .where(*whole)).scalar_one()
    return int(total) + sum(_part_of_day(conn, device_ids, state, *part) for part in partial)


def _start(on: date) -> datetime:
    return datetime.combine(on, datetime.min.time())


def _next_day_start(on: date) -> datetime:
    """The exclusive end of day `on`; for the last representable day (a client may ask `to=9999-12-31...`) the
    largest datetime stands in for the day after."""
    return _start(on + timedelta(days=1)) if on < date.max else datetime.max


def _part_of_day(conn: Connection, device_ids: Sequence[str], state: str | None, start: datetime, end: datetime,
                 on: date) -> int:
    """The rows in [start, end), a part of day `on` that reaches one of its ends: counted on the rows of the
    part, or, when the part spans more than half the day, as the day's count less the rows of the rest, so
    that at most about half a day's index entries are read."""
    if end - start <= timedelta(hours=12):
        return _count_rows(conn, device_ids, state, start, end)
    conditions = [message_counts.c.device_id.in_(device_ids), message_counts.c.day == on]
    if state:
        conditions.append(message_counts.c.state == state)
    day_total = int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(message_counts.c.total), 0))
                                 .where(*conditions)).scalar_one())
    rest = (_start(on), start) if end == _next_day_start(on) else (end, _next_day_start(on))
    return day_total - _count_rows(conn, device_ids, state, *rest)


def _count_rows(conn: Connection, device_ids: Sequence[str], state: str | None, since: datetime | None,
                until: datetime | None) -> int:
    conditions: list[sa.ColumnElement[bool]] = [messages.c.device_id.in_(device_ids)]
    if state:
        conditions.append(messages.c.state == state)
    if since is not None:
        conditions.append(messages.c.created_at >= since)
    if until is not None:
        conditions.append(messages.c.created_at < until)
    return int(conn.execute(sa.select(sa.func.count()).select_from(messages).where(*conditions)).scalar_one())


def days_of(conn: Connection, device_id: str) -> list[date]:
    """Every day a recount of this device must visit: each day it has rows or counts of (a read of its
    (device_id, created_at) index, no lock)."""
    day = sa.func.date(messages.c.created_at)
    found = set(conn.execute(sa.select(day).where(messages.c.device_id == device_id).distinct()).scalars())
    found |= set(conn.execute(sa.select(message_counts.c.day).where(message_counts.c.device_id == device_id)
                              .distinct()).scalars())
    return sorted(d for d in (_as_date(value) for value in found) if d is not None)


def recount_day(conn: Connection, device_id: str, on: date) -> int:
    """Rebuilds one device's counts of one day from its rows; returns how many count rows were wrong.

    The count rows are locked first (FOR UPDATE; SQLite has one writer anyway): a transaction that wrote
    rows of this day but has not bumped the counts yet bumps them after this one commits, on top of a count
    that did not include its rows; one that bumped already has committed before the rows are read here.
    """
    mine = sa.and_(message_counts.c.device_id == device_id, message_counts.c.day == on)
    stored = {str(r.state): int(r.total) for r in conn.execute(
        sa.select(message_counts.c.state, message_counts.c.total).where(mine).with_for_update())}
    actual = {str(state): int(total) for state, total in conn.execute(
        sa.select(messages.c.state, sa.func.count())
        .where(messages.c.device_id == device_id, messages.c.created_at >= _start(on),
               messages.c.created_at < _next_day_start(on))
        .group_by(messages.c.state))}
    wrong = {state for state in stored.keys() | actual.keys() if stored.get(state) != actual.get(state)}
    if wrong:
        conn.execute(message_counts.delete().where(mine, message_counts.c.state.in_(wrong)))
        rows = [{"device_id": device_id, "state": s, "day": on, "total": actual[s]} for s in wrong if s in actual]
        if rows:
            conn.execute(message_counts.insert(), rows)
    return len(wrong)


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def device_ids(conn: Connection) -> list[str]:
    return list(conn.execute(sa.select(devices.c.id).order_by(devices.c.id)).scalars())


def owned_devices(conn: Connection, user_id: str, only: str | None = None) -> list[str]:
    query = sa.select(devices.c.id).where(devices.c.user_id == user_id)
    if only is not None:
        query = query.where(devices.c.id == only)
    return list(conn.execute(query).scalars())


def of_rows(rows: Iterable[Any], sign: int = 1) -> Counter[Key]:
    """Deltas for rows with device_id, state and created_at (inserted: +1, deleted: -1)."""
    deltas: Counter[Key] = Counter()
    for row in rows:
        deltas[(row.device_id, str(row.state), day_of(row.created_at))] += sign
    return deltas
