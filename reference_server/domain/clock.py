"""Time as the server stores it: naive UTC datetimes, millisecond precision (datetime(3))."""

import re
from datetime import UTC, datetime, timedelta

# RFC 3339 `date-time`: full date, "T", full time, a fraction of any length, and a mandatory offset.
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)", re.ASCII
)
# The extremes a naive datetime(3) column holds.
_EARLIEST, _LATEST = datetime.min, datetime.max.replace(microsecond=999000)


def now() -> datetime:
    moment = datetime.now(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 date-time, offset required (as Go's time.RFC3339); ValueError otherwise.

    Fractions beyond microseconds are cut, as Go keeps nanoseconds we cannot store anyway.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    date, time, fraction, offset = match.groups()
    fraction = f".{fraction[:6]}" if fraction else ""
    offset = "+00:00" if offset in ("Z", "z") else offset
    return datetime.fromisoformat(f"{date}T{time}{fraction}{offset}")


def to_utc_naive(moment: datetime) -> datetime:
    """Inputs carry offsets (RFC 3339); a naive input is taken as UTC.

    An instant whose UTC time falls outside years 1..9999 (9999-12-31T23:00:00-05:00) is clamped to the
    nearest representable one: for filters and deadlines that far out the difference cannot matter.
    """
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            offset = moment.utcoffset() or timedelta(0)
            return _LATEST if offset < timedelta(0) else _EARLIEST
    return moment


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with exactly three fractional digits, parseable by every client we know."""
    moment = to_utc_naive(moment)
    # Not strftime's %Y: glibc writes year 16 as "16", which is no RFC 3339 date (found by the fuzz pass).
    return f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
