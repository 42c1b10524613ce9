"""Query-string parsing with Go's rules (strconv.ParseBool, RFC 3339) and 400s that name the parameter."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from datetime import datetime

from quart import request

from ..domain.clock import parse_rfc3339
from ..domain.errors import InvalidInput
from ..domain.ids import check_client_id

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
INT64_MAX = 2**63 - 1  # strconv.ParseInt's range: larger numbers are a parse error, not a database error
# strconv.ParseInt's syntax: an optional sign and ASCII digits. Python's int() would also take Arabic-Indic or
# fullwidth digits, underscores and surrounding whitespace.
_GO_INTEGER = re.compile(r"[+-]?[0-9]+")


def _bad(name: str, value: str, why: str) -> InvalidInput:
    return InvalidInput(f"failed to parse query: {name}={value!r}: {why}")


def flag(name: str, default: bool = False) -> bool:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _bad(name, value, "not a boolean")


def integer(name: str, default: int, minimum: int, maximum: int = INT64_MAX) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    if not _GO_INTEGER.fullmatch(value):
        raise _bad(name, value, "not an integer")
    number = int(value, 10)
    if not minimum <= number <= maximum:
        raise _bad(name, value, f"must be between {minimum} and {maximum}")
    return number


def timestamp(name: str) -> datetime | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        raise _bad(name, value, "not an RFC 3339 date-time") from None


def cursor(name: str) -> tuple[datetime, int] | None:
    """A keyset cursor as `cursor_token` writes it: the (created_at, id) of the last row of a page."""
    value = request.args.get(name)
    if value is None or value == "":
        return None
    try:
        moment, _, number = base64.urlsafe_b64decode(value.encode() + b"==").decode().partition("|")
        key = (datetime.fromisoformat(moment), int(number, 10))
    except ValueError:
        raise _bad(name, value, "not a cursor from a Link header") from None
    if key[0].tzinfo is not None or not 0 < key[1] <= INT64_MAX:
        raise _bad(name, value, "not a cursor from a Link header")
    return key


def cursor_token(created_at: datetime, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode().rstrip("=")


def choice(name: str, allowed: Iterable[str], default: str | None = None) -> str | None:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    options = list(allowed)
    if value not in options:
        raise _bad(name, value, f"must be one of {', '.join(options)}")
    return value


def device_id(name: str = "deviceId") -> str | None:
    """A device id filter: absent, or 21 printable characters (a device id's length)."""
    value = request.args.get(name) or None
    if value is not None:
        check_client_id(name, value)
        if len(value) != 21:
            raise InvalidInput(f"failed to parse query: {name}={value!r}: must be 21 characters")
    return value
