"""Certificate signing requests of the private CA (table `ca_requests`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .database import Database
from .tables import ca_requests


class CaRequestExists(Exception):
    """The id is taken (409 `csr already exists`)."""


@dataclass(frozen=True)
class CaRequestRow:
    id: str
    type: str
    status: str
    content: str
    metadata: dict[str, str] | None
    certificate: str | None
    client_ip: str | None
    expires_at: datetime
    created_at: datetime
    updated_at: datetime


def _row(mapping: Any) -> CaRequestRow:
    return CaRequestRow(**{column.name: mapping[column.name] for column in ca_requests.columns})


class CaRequestsRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(self, row: CaRequestRow) -> None:
        def insert(conn: Connection) -> None:
            conn.execute(ca_requests.insert().values(**row.__dict__))

        try:
            await self.db.run(insert)
        except sa.exc.IntegrityError:
            raise CaRequestExists(row.id) from None

    async def get(self, request_id: str) -> CaRequestRow | None:
        def get(conn: Connection) -> CaRequestRow | None:
            found = conn.execute(sa.select(ca_requests).where(ca_requests.c.id == request_id)).mappings().first()
            return _row(found) if found else None

        return await self.db.run(get)

    async def pending_ids(self, now: datetime, limit: int = 1000) -> list[str]:
        """Unexpired requests still waiting for a certificate, oldest first."""
        def pending(conn: Connection) -> list[str]:
            query = (sa.select(ca_requests.c.id)
                     .where(ca_requests.c.status == "pending", ca_requests.c.expires_at > now)
                     .order_by(ca_requests.c.created_at).limit(limit))
            return list(conn.execute(query).scalars())

        return await self.db.run(pending)

    async def resolve(self, request_id: str, status: str, certificate: str | None, now: datetime) -> bool:
        """Move a pending request to `status`; False when it was not pending (another worker won)."""
        def resolve(conn: Connection) -> bool:
            result = conn.execute(
                ca_requests.update()
                .where(ca_requests.c.id == request_id, ca_requests.c.status == "pending")
                .values(status=status, certificate=certificate, updated_at=now)
            )
            return result.rowcount > 0

        return await self.db.run(resolve)

    async def delete_expired(self, now: datetime) -> int:
        def delete(conn: Connection) -> int:
            return conn.execute(ca_requests.delete().where(ca_requests.c.expires_at <= now)).rowcount

        return await self.db.run(delete)
