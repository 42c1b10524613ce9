"""Devices: the phones of a user, found by their bearer token."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..domain.clock import now
from ..domain.models import NO_KEY, Device, DeviceKey, SimCard
from .database import Database
from .tables import devices


class DeviceRoute(NamedTuple):
    id: str
    user_id: str
    push_token: str | None


class DevicesRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, device: Device) -> None:
        await self.db.run(insert_device, device)

    async def by_token(self, token: str) -> Device | None:
        return await self.db.batched(_one, _BY_TOKEN, {"token": token})

    async def get(self, user_id: str, device_id: str) -> Device | None:
        return await self.db.batched(_one, _BY_USER_AND_ID, {"user_id": user_id, "device_id": device_id})

    async def routes(self, device_ids: list[str]) -> dict[str, DeviceRoute]:
        """How to reach the devices among `device_ids` that exist, by id (one query for them all)."""
        return await self.db.batched(_routes, device_ids)

    async def routes_of_user(self, user_id: str) -> list[DeviceRoute]:
        """How to reach each device of the user: only what routing reads, so that a broadcast to thousands of
        devices costs little."""
        return await self.db.batched(_routes_of_user, user_id)

    async def for_user(self, user_id: str) -> list[Device]:
        return await self.db.batched(_for_user, user_id)

    async def update(self, device_id: str, push_token: str | None, sim_cards: list[SimCard],
                     key: DeviceKey = NO_KEY) -> None:
        await self.db.batched(_update, device_id, push_token, sim_cards, key)

    async def delete(self, user_id: str, device_id: str) -> bool:
        return await self.db.run(_delete, user_id, device_id)

    async def touch(self, device_id: str, moment: datetime) -> None:
        await self.db.run(_touch, device_id, moment)

    async def candidate_ids(self, user_id: str, device_id: str | None, seen_since: datetime | None) -> list[str]:
        return await self.db.batched(_candidate_ids, user_id, device_id, seen_since, many=_candidate_ids_many)


def _sim_cards_json(cards: list[SimCard]) -> list[dict[str, Any]]:
    return [asdict(card) for card in cards]


def _row_to_device(row: Any) -> Device:
    return Device(
        id=row.id, user_id=row.user_id, name=row.name, auth_token=row.auth_token, push_token=row.push_token,
        sim_cards=[SimCard(**card) for card in row.sim_cards or []], last_seen=row.last_seen,
        created_at=row.created_at, updated_at=row.updated_at, public_key=row.public_key, key_version=row.key_version,
    )


def insert_device(conn: Connection, device: Device) -> None:
    conn.execute(devices.insert().values(
        id=device.id, user_id=device.user_id, name=device.name, auth_token=device.auth_token,
        push_token=device.push_token or None, sim_cards=_sim_cards_json(device.sim_cards),
        last_seen=device.last_seen, created_at=device.created_at, updated_at=device.updated_at,
        public_key=device.public_key, key_version=device.key_version,
    ))


# Built once: a statement built per call costs more Python than running it (SQLAlchemy derives its cache key).
_BY_TOKEN = sa.select(devices).where(devices.c.auth_token == sa.bindparam("token"))
_BY_USER_AND_ID = sa.select(devices).where(devices.c.user_id == sa.bindparam("user_id"),
                                           devices.c.id == sa.bindparam("device_id"))
_ROUTE = sa.select(devices.c.id, devices.c.user_id, devices.c.push_token)
_ROUTES = _ROUTE.where(devices.c.id.in_(sa.bindparam("ids", expanding=True)))
_ROUTES_OF_USER = _ROUTE.where(devices.c.user_id == sa.bindparam("user_id")).order_by(devices.c.created_at)


_IDS_OF_USER = sa.select(devices.c.id).where(devices.c.user_id == sa.bindparam("user_id"))


def _one(conn: Connection, query: Any, params: dict[str, Any]) -> Device | None:
    row = conn.execute(query, params).first()
    return _row_to_device(row) if row else None


def _routes(conn: Connection, device_ids: list[str]) -> dict[str, DeviceRoute]:
    return {row.id: DeviceRoute(*row) for row in conn.execute(_ROUTES, {"ids": device_ids})}


def _routes_of_user(conn: Connection, user_id: str) -> list[DeviceRoute]:
    return [DeviceRoute(*row) for row in conn.execute(_ROUTES_OF_USER, {"user_id": user_id})]


def _for_user(conn: Connection, user_id: str) -> list[Device]:
    rows = conn.execute(sa.select(devices).where(devices.c.user_id == user_id).order_by(devices.c.created_at))
    return [_row_to_device(row) for row in rows]


def _update(conn: Connection, device_id: str, push_token: str | None, sim_cards: list[SimCard],
            key: DeviceKey) -> None:
    values: dict[str, Any] = {"sim_cards": _sim_cards_json(sim_cards), "updated_at": now()}
    if push_token is not None:  # upstream (PR #258): absent leaves it unchanged, "" clears it
        values["push_token"] = push_token or None
    if key.public_key is not None:
        values["public_key"] = key.public_key
    if key.key_version is not None:
        values["key_version"] = key.key_version
    conn.execute(devices.update().where(devices.c.id == device_id).values(**values))


def _delete(conn: Connection, user_id: str, device_id: str) -> bool:
    result = conn.execute(devices.delete().where(devices.c.user_id == user_id, devices.c.id == device_id))
    return bool(result.rowcount)


def _touch(conn: Connection, device_id: str, moment: datetime) -> None:
    conn.execute(devices.update().where(devices.c.id == device_id, devices.c.last_seen < moment)
                 .values(last_seen=moment))


def _candidate_ids(conn: Connection, user_id: str, device_id: str | None, seen_since: datetime | None) -> list[str]:
    if device_id or seen_since is not None:
        return [row.id for row in conn.execute(_candidates(user_id, device_id, seen_since))]
    return [row.id for row in conn.execute(_IDS_OF_USER, {"user_id": user_id})]  # built once: the common case


def _candidates(user_id: str, device_id: str | None, seen_since: datetime | None) -> sa.Select[Any]:
    query = sa.select(devices.c.id).where(devices.c.user_id == user_id)
    if device_id:
        query = query.where(devices.c.id == device_id)
    if seen_since is not None:
        query = query.where(devices.c.last_seen > seen_since)
    return query


def _candidate_ids_many(conn: Connection, calls: list[tuple[str, str | None, datetime | None]]) -> list[list[str]]:
    """The `many` form of `_candidate_ids` for a group-commit batch: every distinct lookup of the batch in one
    statement (UNION ALL, each tagged with its index), one round trip instead of one per send. Each part is the
    lone query itself, so what matches (the database's collation, its comparison of times) is the same."""
    distinct = {call: index for index, call in enumerate(dict.fromkeys(calls))}
    parts = [_candidates(*call).add_columns(sa.literal(index, sa.Integer).label("part"))
             for call, index in distinct.items()]
    found: list[list[str]] = [[] for _ in distinct]
    for row in conn.execute(sa.union_all(*parts)):
        found[row.part].append(row.id)
    return [list(found[distinct[call]]) for call in calls]
