"""The stored inbox (upstream 1.48): messages the phones upload, listed per user, with their MMS parts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..domain.clock import now
from .database import Database
from .dialect import insert_ignoring_duplicates
from .tables import devices, inbox, inbox_attachments


@dataclass(frozen=True)
class Attachment:
    part_id: int
    content_type: str
    name: str
    size: int | None
    data: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class IncomingMessage:
    ext_id: str
    type: str
    sender: str
    recipient: str | None
    sim_number: int | None
    content: str
    is_encrypted: bool
    created_at: datetime  # naive UTC, when the phone received it
    attachments: list[Attachment] = field(default_factory=list)
    device_id: str = ""


@dataclass(frozen=True)
class InboxFilter:
    user_id: str
    device_id: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0


class InboxRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert_batch(self, device_id: str, messages: list[IncomingMessage]) -> int:
        """Stores the messages in one transaction; an (ext_id, device) pair already stored is skipped."""
        return await self.db.run(_insert_batch, device_id, messages)

    async def search(self, filter_: InboxFilter) -> tuple[list[IncomingMessage], int]:
        return await self.db.run(_search, filter_)

    async def attachment(self, user_id: str, ext_id: str, part_id: int) -> Attachment | None:
        return await self.db.run(_attachment, user_id, ext_id, part_id)

    async def cleanup(self, before: datetime) -> int:
        return await self.db.run(_cleanup, before)


def _insert_ignoring_duplicates(conn: Connection, values: dict[str, Any]) -> Any:
    return conn.execute(insert_ignoring_duplicates(inbox, conn.dialect.name).values(**values))


def _insert_batch(conn: Connection, device_id: str, messages: list[IncomingMessage]) -> int:
    inserted, moment = 0, now()
    for message in messages:
        result = _insert_ignoring_duplicates(conn, {
            "ext_id": message.ext_id, "device_id": device_id, "type": message.type, "sender": message.sender,
            "recipient": message.recipient, "sim_number": message.sim_number, "content": message.content,
            "is_encrypted": message.is_encrypted, "created_at": message.created_at, "uploaded_at": moment})
        if not result.rowcount:
            continue  # a repeated upload: the stored copy stays
        inserted += 1
        parts = {a.part_id: a for a in reversed(message.attachments)}  # a part sent twice: the first copy counts
        if parts:
            message_id = result.inserted_primary_key[0]
            conn.execute(inbox_attachments.insert(), [
                {"message_id": message_id, "part_id": a.part_id, "content_type": a.content_type, "name": a.name,
                 "size": a.size, "data": a.data} for a in reversed(parts.values())])
    return inserted


def _search(conn: Connection, filter_: InboxFilter) -> tuple[list[IncomingMessage], int]:
    conditions = [devices.c.user_id == filter_.user_id]
    if filter_.device_id:
        conditions.append(inbox.c.device_id == filter_.device_id)
    if filter_.type:
        conditions.append(inbox.c.type == filter_.type)
    if filter_.since is not None:
        conditions.append(inbox.c.created_at >= filter_.since)
    if filter_.until is not None:
        conditions.append(inbox.c.created_at <= filter_.until)
    joined = inbox.join(devices, inbox.c.device_id == devices.c.id)
    total = conn.execute(sa.select(sa.func.count()).select_from(joined).where(*conditions)).scalar_one()
    rows = conn.execute(sa.select(inbox).select_from(joined).where(*conditions)
                        .order_by(inbox.c.created_at.desc(), inbox.c.id.desc())
                        .limit(filter_.limit).offset(filter_.offset)).all()
    parts: dict[int, list[Attachment]] = {}
    if rows:
        columns = (inbox_attachments.c.message_id, inbox_attachments.c.part_id, inbox_attachments.c.content_type,
                   inbox_attachments.c.name, inbox_attachments.c.size)
        for part in conn.execute(sa.select(*columns).where(inbox_attachments.c.message_id.in_([r.id for r in rows]))
                                 .order_by(inbox_attachments.c.part_id)):
            parts.setdefault(part.message_id, []).append(
                Attachment(part.part_id, part.content_type, part.name, part.size))
    found = [IncomingMessage(r.ext_id, r.type, r.sender, r.recipient, r.sim_number, r.content, bool(r.is_encrypted),
                             r.created_at, parts.get(r.id, []), r.device_id) for r in rows]
    return found, int(total)


def _attachment(conn: Connection, user_id: str, ext_id: str, part_id: int) -> Attachment | None:
    query = (sa.select(inbox_attachments)
             .select_from(inbox_attachments.join(inbox, inbox_attachments.c.message_id == inbox.c.id)
                          .join(devices, inbox.c.device_id == devices.c.id))
             .where(devices.c.user_id == user_id, inbox.c.ext_id == ext_id, inbox_attachments.c.part_id == part_id)
             .order_by(inbox.c.id).limit(1))
    row = conn.execute(query).first()
    return None if row is None else Attachment(row.part_id, row.content_type, row.name, row.size, bytes(row.data))


def _cleanup(conn: Connection, before: datetime) -> int:
    old = sa.select(inbox.c.id).where(inbox.c.created_at < before).scalar_subquery()
    conn.execute(inbox_attachments.delete().where(inbox_attachments.c.message_id.in_(old)))
    return int(conn.execute(inbox.delete().where(inbox.c.created_at < before)).rowcount)
