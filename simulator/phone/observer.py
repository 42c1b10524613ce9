"""How a phone tells its owner (fleet, driver, tests) what it did, without them reaching into it.

Every method is optional: a phone calls only those its observer has (see `notify`). Besides the five
below, a phone calls `sms_received(device_id, sender, text)` and
`webhook(device_id, event, url, status, error)` (status None on a network error, error None on success).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol


class PhoneObserver(Protocol):
    def registered(self, device_id: str) -> None: ...

    def connected(self, device_id: str, transport: str) -> None: ...  # "sse" connected / "fcm" ready

    def disconnected(self, device_id: str, transport: str) -> None: ...

    def message_state(self, device_id: str, message_id: str, state: str, at: datetime) -> None: ...

    def error(self, device_id: str, where: str, detail: str) -> None: ...


def notify(observer: Any, name: str, *args: Any) -> None:
    method = getattr(observer, name, None) if observer is not None else None
    if method is not None:
        method(*args)
