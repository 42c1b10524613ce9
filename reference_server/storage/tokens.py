"""JWT token rows: one per access token and one per refresh token (linked by parent_jti)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..domain.clock import now
from .database import Database
from .tables import tokens


@dataclass
class TokenRow:
    id: str
    user_id: str
    token_use: str
    expires_at: datetime
    revoked_at: datetime | None
    parent_jti: str | None = None


class TokensRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert_pair(self, access: TokenRow, refresh: TokenRow) -> None:
        await self.db.run(_insert, [access, refresh])

    async def get(self, jti: str) -> TokenRow | None:
        return await self.db.run(_get, jti)

    async def rotate(self, refresh_jti: str, access: TokenRow, refresh: TokenRow) -> bool:
        """Revokes the presented refresh token and stores the new pair; False when it was already used."""
        return await self.db.run(_rotate, refresh_jti, access, refresh)

    async def revoke_family(self, user_id: str, jti: str) -> int:
        return await self.db.run(_revoke_family, user_id, jti)

    async def revoke_all(self, user_id: str) -> int:
        return await self.db.run(_revoke_all, user_id)

    async def delete_expired(self, before: datetime) -> int:
        return await self.db.run(_delete_expired, before)


def _insert(conn: Connection, rows: list[TokenRow]) -> None:
    moment = now()
    conn.execute(tokens.insert(), [
        {"id": r.id, "user_id": r.user_id, "token_use": r.token_use, "parent_jti": r.parent_jti,
         "expires_at": r.expires_at, "revoked_at": None, "created_at": moment, "updated_at": moment}
        for r in rows
    ])


def _get(conn: Connection, jti: str) -> TokenRow | None:
    row = conn.execute(sa.select(tokens).where(tokens.c.id == jti)).first()
    if row is None:
        return None
    return TokenRow(row.id, row.user_id, row.token_use, row.expires_at, row.revoked_at, row.parent_jti)


def _rotate(conn: Connection, refresh_jti: str, access: TokenRow, refresh: TokenRow) -> bool:
    moment = now()
    used = conn.execute(tokens.update()
                        .where(tokens.c.id == refresh_jti, tokens.c.token_use == "refresh",
                               tokens.c.revoked_at.is_(None))
                        .values(revoked_at=moment, updated_at=moment))
    if used.rowcount != 1:  # a replayed (already rotated) or revoked refresh token
        return False
    _insert(conn, [access, refresh])
    return True


def _revoke_family(conn: Connection, user_id: str, jti: str) -> int:
    moment = now()
    result = conn.execute(tokens.update()
                          .where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None),
                                 sa.or_(tokens.c.id == jti, tokens.c.parent_jti == jti))
                          .values(revoked_at=moment, updated_at=moment))
    return int(result.rowcount)


def _revoke_all(conn: Connection, user_id: str) -> int:
    moment = now()
    result = conn.execute(tokens.update()
                          .where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None),
                                 tokens.c.expires_at > moment)
                          .values(revoked_at=moment, updated_at=moment))
    return int(result.rowcount)


def _delete_expired(conn: Connection, before: datetime) -> int:
    return int(conn.execute(tokens.delete().where(tokens.c.expires_at < before)).rowcount)
