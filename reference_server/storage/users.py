"""Users: an id that is the login, and a bcrypt hash."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..domain.clock import now
from ..domain.models import Device, User
from .database import Database
from .devices import insert_device
from .tables import users


class UsersRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, user_id: str) -> User | None:
        return await self.db.run(_get, user_id)

    async def create_with_device(self, user: User, device: Device) -> None:
        await self.db.run(_create_with_device, user, device)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self.db.run(_set_password_hash, user_id, password_hash)


def _get(conn: Connection, user_id: str) -> User | None:
    row = conn.execute(sa.select(users.c.id, users.c.password_hash).where(users.c.id == user_id)).first()
    return User(id=row.id, password_hash=row.password_hash) if row else None


def _create_with_device(conn: Connection, user: User, device: Device) -> None:
    moment = now()
    conn.execute(users.insert().values(id=user.id, password_hash=user.password_hash,
                                       created_at=moment, updated_at=moment))
    insert_device(conn, device)


def _set_password_hash(conn: Connection, user_id: str, password_hash: str) -> None:
    conn.execute(users.update().where(users.c.id == user_id)
                 .values(password_hash=password_hash, updated_at=now()))
