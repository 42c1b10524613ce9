"""The phone's wall clock, driven by Trio's clock (so `MockClock` moves it), in the phone's time zone.

The app formats dates with Gson's `yyyy-MM-dd'T'HH:mm:ss.SSSXXX` in the phone's local zone:
`2026-07-01T10:15:30.123+07:00`, and `Z` for UTC.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone

import trio

_FRACTION = re.compile(r"(\.\d{6})\d+")


class PhoneClock:
    def __init__(self, tz_offset_minutes: int = 0) -> None:
        self.tz = timezone(timedelta(minutes=tz_offset_minutes)) if tz_offset_minutes else UTC
        self._wall0 = time.time()
        self._trio0: float | None = None

    def anchor(self) -> None:
        """Tie wall time to the running Trio clock; call once inside the Trio run."""
        self._wall0, self._trio0 = time.time(), trio.current_time()

    def timestamp(self) -> float:
        """Seconds since the epoch, as the phone sees them."""
        if self._trio0 is None:
            return time.time()
        return self._wall0 + (trio.current_time() - self._trio0)

    def millis(self) -> int:
        return int(self.timestamp() * 1000)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.millis() / 1000, self.tz)

    def format(self, moment: datetime | int | None = None) -> str:
        """Gson's phone-local rendering of `moment` (a datetime or epoch millis; now when None)."""
        if moment is None:
            moment = self.millis()
        if isinstance(moment, int):
            moment = datetime.fromtimestamp(moment / 1000, self.tz)
        return format_local(moment.astimezone(self.tz))


def format_local(moment: datetime) -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    offset = moment.utcoffset() or timedelta(0)
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def parse_time(text: str | None) -> float | None:
    """An RFC 3339 time from the server (Go may send nine fraction digits) as epoch seconds."""
    if not text:
        return None
    text = _FRACTION.sub(r"\1", text.strip()).replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
