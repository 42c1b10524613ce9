"""Identifiers the app makes: nanoids (jnanoid's default alphabet and size)."""

from __future__ import annotations

import secrets

ALPHABET = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def nanoid(size: int = 21) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(size))
