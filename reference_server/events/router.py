"""Routing (contract §4.1): each event goes to its target devices, by push if the device has a push
token, by SSE if it has none; never both.

`notify` only queues the notification, so an API call never waits for delivery. The routing task
loads the target devices, queues pushes in *this* process (one push per event whatever the number of
server processes), and publishes the SSE part through pub/sub, so that the process holding a
device's SSE connection delivers it. Failures are logged and counted, never raised to the caller.

Notifications are routed in batches: whatever is queued when a routing task comes round (up to `BATCH`) is
routed together, with one device lookup for all the devices named (not one per event), identical
notifications routed once (a device told "MessageEnqueued" twice would pull twice for nothing), and one
pub/sub payload per distinct event naming all its SSE devices.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import trio

from ..metrics import Metrics
from ..storage.devices import DeviceRoute, DevicesRepository
from .notifier import DeviceEvent, Notification, PushSink
from .pubsub import PubSub
from .sse import SseHub

log = logging.getLogger(__name__)

QUEUE_SIZE = 4096
ROUTING_TASKS = 2  # batches routed concurrently (each waits for a device lookup)
BATCH = 256  # notifications routed together at most


def encode(device_ids: list[str], event: DeviceEvent) -> bytes:
    return json.dumps({"devices": device_ids, "event": event.type, "data": event.data}).encode()


def decode(payload: bytes) -> tuple[list[str], DeviceEvent]:
    body = json.loads(payload)
    data = body.get("data")
    return [str(d) for d in body["devices"]], DeviceEvent(str(body["event"]), dict(data) if data else None)


class EventRouter:
    """The server's `Notifier`."""

    def __init__(self, devices: DevicesRepository, push: PushSink, pubsub: PubSub, sse: SseHub,
                 metrics: Metrics) -> None:
        self.devices = devices
        self.push = push
        self.pubsub = pubsub
        self.sse = sse
        self.metrics = metrics
        self._send, self._receive = trio.open_memory_channel[Notification](QUEUE_SIZE)
        self._unrouted = 0  # accepted by notify() and not yet routed

    @property
    def busy(self) -> bool:
        """Whether notifications wait for routing or some are being routed now."""
        return self._unrouted > 0

    async def notify(self, user_id: str, device_id: str | None, event: DeviceEvent) -> None:
        self.metrics.events_enqueued.labels(event.type).inc()
        try:
            self._send.send_nowait(Notification(user_id, device_id, event))
            self._unrouted += 1
        except trio.WouldBlock:
            self.metrics.events_failed.labels(event.type, "", "queue_full").inc()
            log.warning("event queue full: %s for user %s dropped", event.type, user_id)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Subscribe to pub/sub (SSE side) and route notifications until cancelled."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.pubsub.serve, self.deliver)
            for _ in range(ROUTING_TASKS):
                nursery.start_soon(self._route_queued)
            task_status.started()

    async def _route_queued(self) -> None:
        async for first in self._receive:
            batch = [first]
            while len(batch) < BATCH:
                try:
                    batch.append(self._receive.receive_nowait())
                except trio.WouldBlock:
                    break
            try:
                await self.route_many(batch)
            finally:
                self._unrouted -= len(batch)

    async def route(self, notification: Notification) -> None:
        await self.route_many([notification])

    async def route_many(self, notifications: Sequence[Notification]) -> None:
        unique = list({(n.user_id, n.device_id, n.event.type, n.event.data_json()): n
                       for n in notifications}.values())
        try:
            targets = await self._targets(unique)
        except Exception as exc:
            for notification in unique:
                self.metrics.events_failed.labels(notification.event.type, "", "storage").inc()
            log.warning("%d event(s) not routed: %s", len(unique), exc)
            return
        sse: dict[str, tuple[DeviceEvent, list[str]]] = {}  # event key -> (event, SSE device ids)
        for notification, devices in zip(unique, targets, strict=True):
            event = notification.event
            key = f"{event.type}\0{event.data_json()}"
            for device in devices:
                if not device.push_token:
                    sse.setdefault(key, (event, []))[1].append(device.id)
                    continue
                try:
                    await self.push.enqueue(device.push_token, event)
                except Exception as exc:
                    self.metrics.events_failed.labels(event.type, "push", "enqueue").inc()
                    log.warning("%s for device %s not queued for push: %s", event.type, device.id, exc)
                else:
                    self.metrics.events_sent.labels(event.type, "push").inc()
        for event, device_ids in sse.values():
            try:
                await self.pubsub.publish(encode(device_ids, event))
            except Exception as exc:
                self.metrics.events_failed.labels(event.type, "sse", "pubsub").inc(len(device_ids))
                log.warning("%s for %d SSE device(s) not published: %s", event.type, len(device_ids), exc)

    async def _targets(self, notifications: list[Notification]) -> list[list[DeviceRoute]]:
        """The devices each notification goes to: one lookup for all the single devices named, one per user
        for the user-wide ones."""
        named = {n.device_id for n in notifications if n.device_id}
        found = await self.devices.routes(sorted(named)) if named else {}
        users = {n.user_id for n in notifications if not n.device_id}
        everyone = {user_id: await self.devices.routes_of_user(user_id) for user_id in sorted(users)}
        targets = []
        for notification in notifications:
            if notification.device_id:
                device = found.get(notification.device_id)
                targets.append([device] if device is not None and device.user_id == notification.user_id else [])
            else:
                targets.append(everyone[notification.user_id])
        return targets

    async def deliver(self, payload: bytes) -> None:
        """The pub/sub side: hand the event to this process's SSE connections of the target devices."""
        try:
            device_ids, event = decode(payload)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("malformed pub/sub payload ignored: %s", exc)
            return
        delivered = missed = 0
        for device_id in device_ids:
            if self.sse.send(device_id, event):
                delivered += 1
            else:
                missed += 1
        if delivered:
            self.metrics.events_sent.labels(event.type, "sse").inc(delivered)
        if missed and not self.pubsub.shared:  # shared: another process may hold the connection
            self.metrics.events_failed.labels(event.type, "sse", "no_connection").inc(missed)
