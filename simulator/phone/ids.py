"""Identifiers the app makes: nanoids (jnanoid's default alphabet and size)."""

from __future__ import annotations

import random
import secrets

ALPHABET = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def nanoid(size: int = 21) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(size))


def made_up_push_token(rnd: random.Random) -> str:
    """Something shaped like an FCM registration token (`<22 chars>:APA91b<134 chars>`)."""
    alphabet = ALPHABET[2:] + "-_"
    return "".join(rnd.choice(alphabet) for _ in range(22)) + ":APA91b" + "".join(
        rnd.choice(alphabet) for _ in range(134))
