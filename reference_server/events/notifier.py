"""The seam between the API and device notification.

The API tells the notifier *what* happened for which user/device; routing to a transport is its job
(`router.EventRouter` in the server, `MemoryNotifier` in tests that only check what was told).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

EVENT_TYPES = ("MessageEnqueued", "MessageCancelled", "WebhooksUpdated", "MessagesExportRequested",
               "SettingsUpdated")


@dataclass(frozen=True)
class DeviceEvent:
    type: str
    data: dict[str, str] | None = None

    def data_json(self) -> str:
        """The data as the wire carries it: compact JSON with sorted keys (Go's encoding), `null` if none."""
        return json.dumps(self.data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Notification:
    user_id: str
    device_id: str | None  # None: every device of the user
    event: DeviceEvent


class Notifier(Protocol):
    async def notify(self, user_id: str, device_id: str | None, event: DeviceEvent) -> None: ...


class MemoryNotifier:
    """Keeps what it was told (bounded) and logs it. The default until a transport is configured."""

    def __init__(self, keep: int = 1000) -> None:
        self.keep = keep
        self.sent: list[Notification] = []

    async def notify(self, user_id: str, device_id: str | None, event: DeviceEvent) -> None:
        log.debug("notify user=%s device=%s event=%s", user_id, device_id or "*", event.type)
        self.sent.append(Notification(user_id, device_id, event))
        del self.sent[: -self.keep]


class PushSink(Protocol):
    """Where push-relay items go (the public server's own push queue)."""

    async def enqueue(self, token: str, event: DeviceEvent) -> None: ...


class MemoryPushSink:
    """Records relayed pushes (bounded). The FCM-backed push queue replaces it."""

    def __init__(self, keep: int = 1000) -> None:
        self.keep = keep
        self.queued: list[tuple[str, DeviceEvent]] = []

    async def enqueue(self, token: str, event: DeviceEvent) -> None:
        self.queued.append((token, event))
        del self.queued[: -self.keep]
