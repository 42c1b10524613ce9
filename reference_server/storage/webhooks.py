"""The webhook registry (the phones make the calls; the server only stores them)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..domain.clock import now
from ..domain.models import Webhook
from .database import Database
from .tables import webhooks


class WebhooksRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def upsert(self, webhook: Webhook) -> None:
        await self.db.run(_upsert, webhook)

    async def for_user(self, user_id: str) -> list[Webhook]:
        return await self.db.batched(_select, webhooks.c.user_id == user_id)

    async def for_device(self, user_id: str, device_id: str) -> list[Webhook]:
        condition = sa.and_(webhooks.c.user_id == user_id,
                            sa.or_(webhooks.c.device_id.is_(None), webhooks.c.device_id == device_id))
        return await self.db.batched(_select, condition)

    async def delete(self, user_id: str, ext_id: str) -> None:
        await self.db.run(_delete, user_id, ext_id)


def _upsert(conn: Connection, webhook: Webhook) -> None:
    moment = now()
    values = {"url": webhook.url, "event": webhook.event, "device_id": webhook.device_id, "updated_at": moment}
    updated = conn.execute(webhooks.update()
                           .where(webhooks.c.user_id == webhook.user_id, webhooks.c.ext_id == webhook.ext_id)
                           .values(**values))
    if not updated.rowcount:
        conn.execute(webhooks.insert().values(user_id=webhook.user_id, ext_id=webhook.ext_id,
                                              created_at=moment, **values))


def _select(conn: Connection, condition: Any) -> list[Webhook]:
    rows = conn.execute(sa.select(webhooks).where(condition).order_by(webhooks.c.id))
    return [Webhook(ext_id=r.ext_id, user_id=r.user_id, url=r.url, event=r.event, device_id=r.device_id)
            for r in rows]


def _delete(conn: Connection, user_id: str, ext_id: str) -> None:
    conn.execute(webhooks.delete().where(webhooks.c.user_id == user_id, webhooks.c.ext_id == ext_id))
