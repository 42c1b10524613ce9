"""Skipping a check with its reason kept: pytest-trio loses the message of a `pytest.skip` raised inside a
Trio test, so the reason is also recorded here for the report (checks run one at a time)."""

from __future__ import annotations

from typing import NoReturn

import pytest

_reasons: list[str] = []


def skip(reason: str) -> NoReturn:
    """Skip the current check: `prerequisite: ...` (the target lacks what it needs) or `missing: ...`."""
    _reasons.append(reason)
    raise pytest.skip.Exception(reason)  # raised, not called: type checkers see that it never returns


def last_reason() -> str | None:
    return _reasons[-1] if _reasons else None


def forget() -> None:
    _reasons.clear()
