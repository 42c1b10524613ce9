"""Housekeeping queries: cleanup, privacy hashing, batched last-seen, queue statistics, task leases."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
import trio
from sqlalchemy.engine import Connection

from . import counts
from .database import Database
from .messages import hash_phone
from .tables import devices, message_recipients, messages, task_leases

UNFINISHED = ("Pending", "Cancelling")
T = TypeVar("T")


class MaintenanceRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        counts.install(db.engine)

    async def delete_messages_created_before(self, before: datetime, batch: int = 200) -> int:
        """Deletes in batches, each a short transaction of its own, so that no request waits long for it."""
        total = 0
        while (done := await paced(self.db.run(_delete_messages, before, batch))) > 0:
            total += done
        return total

    async def recount_messages(self) -> int:
        """Rebuilds the message counts from the rows, a device-day per transaction; returns the rows fixed."""
        fixed = 0
        for device_id in await self.db.run(counts.device_ids):
            for day in await self.db.run(counts.days_of, device_id):
                fixed += await self.db.run(counts.recount_day, device_id, day)
        return fixed

    async def delete_devices_unseen_since(self, before: datetime) -> int:
        return await self.db.run(_delete_devices, before)

    async def hash_messages(self, ids: list[int] | None = None, batch: int = 50) -> int:
        """Hashes a batch of eligible messages (among `ids` when given); returns how many."""
        return await paced(self.db.run(_hash_messages, ids, batch))

    async def record_last_seen(self, seen: dict[str, datetime]) -> None:
        await self.db.run(_record_last_seen, seen)

    async def queue_stats(self, device_id: str, now: datetime, max_failed: int,
                          failed_since: datetime | None) -> tuple[datetime | None, int, list[str]]:
        return await self.db.run(_queue_stats, device_id, now, max_failed, failed_since)

    async def acquire_lease(self, name: str, owner: str, now: datetime, until: datetime) -> bool:
        return await self.db.run(_acquire_lease, name, owner, now, until)


async def paced(batch: Awaitable[T]) -> T:
    """Runs one batch of a background job, then rests as long as it took: the job holds the database (SQLite's
    one writer, a share of the CPU) at most half the time, so requests are not queued behind a run of batches."""
    started = trio.current_time()
    result = await batch
    await trio.sleep(trio.current_time() - started)
    return result


def _delete_messages(conn: Connection, before: datetime, batch: int) -> int:
    rows = conn.execute(sa.select(messages.c.id, messages.c.device_id, messages.c.state, messages.c.created_at)
                        .where(messages.c.created_at < before, messages.c.state.not_in(UNFINISHED))
                        .order_by(messages.c.created_at).limit(batch).with_for_update()).all()
    if not rows:
        return 0
    conn.execute(messages.delete().where(messages.c.id.in_([row.id for row in rows])))
    counts.bump(conn, counts.of_rows(rows, -1))
    return len(rows)


def _delete_devices(conn: Connection, before: datetime) -> int:
    return int(conn.execute(devices.delete().where(devices.c.last_seen < before)).rowcount)


def _hashed_content(content: str) -> str:
    body = json.loads(content)
    if "attachments" in body:  # an MMS: its whole stored JSON (parts and all) is what it said
        plain = content
    else:
        plain = body["text"] if "text" in body else body["data"]
    return hashlib.sha256(str(plain).encode()).hexdigest()


def _hash_messages(conn: Connection, ids: list[int] | None, batch: int) -> int:
    query = sa.select(messages.c.id, messages.c.content).where(
        messages.c.is_hashed.is_(False), messages.c.is_encrypted.is_(False), messages.c.state.not_in(UNFINISHED))
    if ids is not None:
        query = query.where(messages.c.id.in_(ids))
    rows = conn.execute(query.limit(batch)).all()
    for row in rows:
        conn.execute(messages.update().where(messages.c.id == row.id)
                     .values(content=_hashed_content(row.content), is_hashed=True))
        for recipient in conn.execute(sa.select(message_recipients.c.id, message_recipients.c.phone_number)
                                      .where(message_recipients.c.message_id == row.id)):
            conn.execute(message_recipients.update().where(message_recipients.c.id == recipient.id)
                         .values(phone_number=hash_phone(recipient.phone_number)))
    return len(rows)


# GREATEST(last_seen, ts), portable; one statement built once and run as one executemany for every device seen
# (10,000 phones online: one flush holds SQLite's writer for milliseconds, not for 10,000 statement builds).
_RECORD_LAST_SEEN = (devices.update()
                     .where(devices.c.id == sa.bindparam("seen_id"), devices.c.last_seen < sa.bindparam("seen_at"))
                     .values(last_seen=sa.bindparam("seen_at")))


def _record_last_seen(conn: Connection, seen: dict[str, datetime]) -> None:
    if seen:
        conn.execute(_RECORD_LAST_SEEN, [{"seen_id": device, "seen_at": moment} for device, moment in seen.items()])


def _queue_stats(conn: Connection, device_id: str, now: datetime, max_failed: int,
                 failed_since: datetime | None) -> tuple[datetime | None, int, list[str]]:
    due = sa.and_(messages.c.device_id == device_id, messages.c.state == "Pending",
                  sa.or_(messages.c.schedule_at.is_(None), messages.c.schedule_at <= now))
    oldest, count = conn.execute(sa.select(sa.func.min(messages.c.created_at), sa.func.count()).where(due)).one()
    recent: list[Any] = []
    if max_failed:
        query = sa.select(messages.c.state).where(messages.c.device_id == device_id)
        if failed_since is not None:
            query = query.where(messages.c.created_at >= failed_since)
        recent = list(conn.execute(query.order_by(messages.c.id.desc()).limit(max_failed)).scalars())
    return oldest, int(count), [str(state) for state in recent]


def _acquire_lease(conn: Connection, name: str, owner: str, now: datetime, until: datetime) -> bool:
    taken = conn.execute(task_leases.update()
                         .where(task_leases.c.name == name,
                                sa.or_(task_leases.c.expires_at < now, task_leases.c.owner == owner))
                         .values(owner=owner, expires_at=until))
    if taken.rowcount:
        return True
    try:
        with conn.begin_nested():
            conn.execute(task_leases.insert().values(name=name, owner=owner, expires_at=until))
        return True
    except sa.exc.IntegrityError:
        return False  # another process holds it
