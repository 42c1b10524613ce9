"""Device notification assembled from the settings, and its life in the app's lifespan.

Which sender the push queue uses:
* `fcm.credentials_json` set: FCM through firebase-admin (`fcm.endpoint` may point it elsewhere);
* otherwise private mode: the upstream relay at `{gateway.upstream_url}/push`;
* otherwise (public mode without credentials): none; pushes fail, are logged and counted.
"""

from __future__ import annotations

import logging

import trio
from quart_trio import QuartTrio

from ..config import Settings
from ..metrics import Metrics
from ..storage.devices import DevicesRepository
from .notifier import DeviceEvent
from .pubsub import open_pubsub
from .push_queue import PushQueue
from .router import EventRouter
from .senders import DisabledSender, PushSender, UpstreamSender
from .sse import SseHub

log = logging.getLogger(__name__)

RESYNC_EVENTS = ("MessageEnqueued", "WebhooksUpdated", "SettingsUpdated")  # what a device does on each covers all


def make_sender(settings: Settings, user_agent: str) -> PushSender:
    fcm = settings.fcm
    if fcm.credentials_json:
        from .fcm import FcmSender  # firebase-admin is a heavy import: only when used

        return FcmSender(fcm.credentials_json, endpoint=fcm.endpoint, timeout=fcm.effective_timeout_seconds)
    if settings.gateway.mode == "private":
        return UpstreamSender(settings.gateway.upstream_url, fcm.effective_timeout_seconds, user_agent)
    return DisabledSender("public mode without fcm.credentials_json: no push transport")


class Events:
    def __init__(self, settings: Settings, devices: DevicesRepository, metrics: Metrics, version: str) -> None:
        self.settings = settings
        self.sse = SseHub(metrics)
        self.pubsub = open_pubsub(settings.pubsub, on_resubscribe=self.resync_sse)
        sender = make_sender(settings, f"sms-gate/{version} (server; python)")
        self.push_queue = PushQueue(sender, metrics, float(settings.fcm.effective_debounce_seconds))
        self.router = EventRouter(devices, self.push_queue, self.pubsub, self.sse, metrics)
        self._scope: trio.CancelScope | None = None

    @property
    def keep_alive(self) -> float:
        return float(self.settings.sse.keep_alive_period_seconds)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Route events and flush the push queue until `aclose`."""
        with trio.CancelScope() as self._scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.router.run)
                await nursery.start(self.push_queue.run)
                task_status.started()

    def resync_sse(self) -> None:
        """Pub/sub is back after a loss: whatever was published meanwhile missed this process's SSE streams.

        Each device with a stream here is told to pull its messages and to fetch its webhooks and settings
        again, which covers every event it may have missed.
        """
        devices = self.sse.device_ids()
        for device_id in devices:
            for event_type in RESYNC_EVENTS:
                self.sse.send(device_id, DeviceEvent(event_type))
        if devices:
            log.info("pub/sub reconnected: re-notified %d SSE device(s)", len(devices))

    def close_streams(self) -> None:
        """End all SSE responses now (each closes cleanly), so that a graceful shutdown need not wait."""
        self.sse.close()

    async def aclose(self) -> None:
        self.sse.close()
        if self._scope is not None:
            self._scope.cancel()
        # Shielded and bounded: after_serving runs once the app has cancelled its nursery.
        with trio.CancelScope(shield=True), trio.move_on_after(self.settings.fcm.effective_timeout_seconds + 2):
            await self.push_queue.flush()  # what waited for the next tick still goes out
            await self.push_queue.sender.aclose()
            await self.pubsub.aclose()

    def install(self, app: QuartTrio) -> None:
        """Start with the app (in its lifespan nursery) and stop with it."""

        @app.before_serving
        async def start_events() -> None:
            if self.settings.gateway.mode == "public" and not self.settings.fcm.credentials_json:
                log.warning("fcm.credentials_json is empty: devices with a push token cannot be notified")
            await app.nursery.start(self.run)

        @app.after_serving
        async def stop_events() -> None:
            await self.aclose()
