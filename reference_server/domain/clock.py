"""Time as the server stores it: naive UTC datetimes, millisecond precision (datetime(3))."""

from datetime import UTC, datetime


def now() -> datetime:
    moment = datetime.now(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def to_utc_naive(moment: datetime) -> datetime:
    """Inputs carry offsets (RFC 3339); a naive input is taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with exactly three fractional digits, parseable by every client we know."""
    moment = to_utc_naive(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
