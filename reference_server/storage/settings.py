"""Per-user device settings: one JSON document."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..domain.clock import now
from .database import Database
from .tables import device_settings

Document = dict[str, Any]


class SettingsRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, user_id: str) -> Document:
        return await self.db.batched(_get, user_id)

    async def replace(self, user_id: str, document: Document) -> Document:
        return await self.db.run(_replace, user_id, document)

    async def update(self, user_id: str, merge: Any) -> Document:
        """Reads, merges with `merge(old) -> new` and writes in one transaction."""
        return await self.db.run(_update, user_id, merge)


def _get(conn: Connection, user_id: str) -> Document:
    row = conn.execute(sa.select(device_settings.c.settings).where(device_settings.c.user_id == user_id)).first()
    return dict(row.settings) if row else {}


def _replace(conn: Connection, user_id: str, document: Document) -> Document:
    moment = now()
    updated = conn.execute(device_settings.update().where(device_settings.c.user_id == user_id)
                           .values(settings=document, updated_at=moment))
    if not updated.rowcount:
        conn.execute(device_settings.insert().values(user_id=user_id, settings=document,
                                                     created_at=moment, updated_at=moment))
    return document


def _update(conn: Connection, user_id: str, merge: Any) -> Document:
    query = sa.select(device_settings.c.settings).where(device_settings.c.user_id == user_id)
    if conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return _replace(conn, user_id, merge(dict(row.settings) if row else {}))
