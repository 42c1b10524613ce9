"""RFC 3339 timestamps as servers write them (up to nanoseconds, `Z` or an offset)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)$")


def parse(value: object) -> datetime:
    match = RFC3339.match(str(value))
    assert match, f"not an RFC 3339 timestamp: {value!r}"
    whole, fraction, zone = match.groups()
    fraction = (fraction or ".0")[:7]
    zone = "+00:00" if zone in ("Z", "z") else zone
    return datetime.fromisoformat(f"{whole}{fraction}{zone}")


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now(**delta: float) -> str:
    return rfc3339(datetime.now(UTC) + timedelta(**delta))
