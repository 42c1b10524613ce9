"""Statements each database dialect spells its own way."""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite


@functools.lru_cache(maxsize=32)
def insert_ignoring_duplicates(table: sa.Table, dialect: str) -> Any:
    """An INSERT that skips rows whose unique key is taken (INSERT OR IGNORE, INSERT IGNORE, ON CONFLICT DO NOTHING).

    PostgreSQL's form also leaves the transaction usable: a failed INSERT there aborts the whole transaction.
    """
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return mysql.insert(table).prefix_with("IGNORE")
