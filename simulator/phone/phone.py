"""One simulated phone: a Trio task tree running the app's cloud-mode services.

`run()` registers (POST /device) or, on a registered phone, PATCHes /device while it pulls and fetches
webhooks and settings (side by side, as WorkManager runs the app's jobs), then runs: events (SSE, or
pushes routed by an `FcmEndpoint`), the periodic pull, the 24-hour refresh jobs, the send loop and its
radio, state reports, the webhook queue, the ping service, incoming SMS and (an option) the inbox
upload, until cancelled.
"""

from __future__ import annotations

import json
from collections import deque
from contextlib import AsyncExitStack
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx
import trio

from .api import ApiError, GatewayApi
from .clock import PhoneClock, parse_time
from .config import PhoneConfig, Registration
from .events_sse import SseEvents
from .health import health
from .ids import made_up_push_token, nanoid
from .inbox import (
    DATA_SMS_PORT,
    InboxEntry,
    data_message_id,
    entry_type,
    export_types,
    mms_downloaded_payload,
    mms_received_payload,
    received_payload,
    text_message_id,
)
from .inbox_upload import InboxUploader
from .observer import PhoneObserver, notify
from .pull import Puller
from .radio import Radio, lazy_random
from .refresh import DAILY, Refresher
from .registration import device_key, joins_without_token, register, sim_cards, update_device
from .reports import Reporter
from .sender import Sender
from .settings import DeviceSettings
from .store import LocalMessage, MessageStore, StateChange
from .webhooks import (
    STATE_EVENTS,
    DeliveryResult,
    Webhook,
    WebhookQueue,
    local_device_id,
    message_event_payload,
    ssl_context,
)

if TYPE_CHECKING:
    from .fcm_endpoint import FcmEndpoint

REGISTRATION_BACKOFF = 10.0  # WorkManager's minimum (and the app's) exponential backoff
MAX_BACKOFF = 5 * 3600.0
INBOX_SIZE = 1000


class Phone:
    def __init__(self, config: PhoneConfig, observer: PhoneObserver | None = None,
                 http: httpx.AsyncClient | None = None, fcm: FcmEndpoint | None = None) -> None:
        self.config = config
        self.observer = observer
        self.fcm = fcm
        self.registration: Registration | None = None
        self.rng = lazy_random(config.seed)
        self.clock = PhoneClock(config.tz_offset_minutes)
        self.sims = sim_cards(config)
        self.settings = DeviceSettings.from_config(config)
        self.store = MessageStore()
        self._inbox: deque[InboxEntry] | None = None  # made at the first SMS: an idle phone has none
        self.processed_inbox: set[str] = set()  # "SMS:<hash>", "DATA_SMS:<hash>": what the app processed
        self.signing_key = config.signing_key or nanoid(8)
        self.settings.passphrase, self.settings.signing_key = config.passphrase, self.signing_key
        self.push_token = (config.fcm_token or made_up_push_token(self.rng)) if config.push == "fcm" else None
        self.sse_only = False  # the server's notification_channel, as of the last start
        self.local_device_id = local_device_id(config.name, self.clock.millis())
        self.webhook_http: httpx.AsyncClient | None = None  # set to override the webhook client
        self._http = http  # shared by many phones; None: each run() opens its own client
        self.api = GatewayApi(http, config.server, config.app_version)
        self.webhooks = WebhookQueue(signing_key=self.signing_key, user_agent=self.api.user_agent,
                                     wall=self.clock.timestamp, retry_count=lambda: self.settings.retry_count,
                                     allow_cleartext=config.cleartext_webhooks, on_result=self._webhook_result)
        self.webhooks.local = [Webhook(nanoid(), url, event, "Local") for event, url in config.local_webhooks]
        self.radio = Radio(config.radio)
        self.sender = Sender(store=self.store, settings=self.settings, clock=self.clock, radio=self.radio,
                             sims=self.sims, passphrase=config.passphrase, rng=self.rng, update=self.update_state)
        self.reporter = Reporter(self.api, self.clock, self.store.get, lambda e: self.notify_error("report", e))
        self.puller = Puller(self)
        self.refresher = Refresher({"webhooks": self.refresh_webhooks, "settings": self.refresh_settings})
        self.uploader = InboxUploader(self.api, lambda: self.settings.passphrase,
                                      partial(self.notify_error, "inbox")) if config.inbox_upload else None
        self.sse: SseEvents | None = None
        self._nursery: trio.Nursery | None = None
        self._pushes: tuple[trio.MemorySendChannel[tuple[str, str]],
                            trio.MemoryReceiveChannel[tuple[str, str]]] | None = None  # FCM phones only

    @property
    def inbox(self) -> deque[InboxEntry]:
        """The phone's SMS inbox (the last INBOX_SIZE messages)."""
        if self._inbox is None:
            self._inbox = deque(maxlen=INBOX_SIZE)
        return self._inbox

    @property
    def device_id(self) -> str:
        return self.registration.device_id if self.registration else ""

    # ---- lifecycle -------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Registration] = trio.TASK_STATUS_IGNORED) -> None:
        self.clock.anchor()
        async with AsyncExitStack() as stack:
            if self._http is None:
                self.api.http = await stack.enter_async_context(httpx.AsyncClient(timeout=30.0))
            if self.webhook_http is not None:
                self.webhooks.http = self.webhook_http
            elif self.config.webhook_ca is not None:
                self.webhooks.http = httpx.AsyncClient(verify=ssl_context(str(self.config.webhook_ca)))
                stack.push_async_callback(self.webhooks.http.aclose)
            else:
                self.webhooks.http = self.api.http
            assert self.api.http is not None
            http = self.api.http
            # A later start (the app registered before: a restart, or the sign-in screen's POST /device
            # just now) sends PATCH /device; a first anonymous start sends POST /device.
            later_start = self.registration is not None or joins_without_token(self.config)
            # `gateway.notification_channel` from the server takes effect at a start (the app asks for a
            # restart): SSE_ONLY skips FCM, registers (or PATCHes) without a push token and listens on SSE.
            self.sse_only = self.settings.cloud.get("notification_channel") == "SSE_ONLY"
            if self.registration is None:
                await self._register(update=False)
            try:  # a finally costs an idle phone nothing; three exit-stack callbacks were 1.6 KB
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    nursery.start_soon(self.puller.run)
                    nursery.start_soon(self.refresher.run)
                    if later_start:
                        await self._start_workers()
                    else:
                        # GatewayService.start enqueued the pull, webhooks and settings jobs while the first
                        # registration was still under way: they found no registration and fetched nothing.
                        # The pull's timer runs; the SSE connection (or a push) pulls; webhooks and
                        # settings wait for their event or the 24-hour period.
                        self.puller.trigger(now=False)
                        for name in self.refresher.due:
                            self.refresher.due[name] = trio.current_time() + DAILY
                    # The send loop, the report queue and the webhook queue start at their first work (queued
                    # before this start: at once); an idle phone holds no task for them.
                    for task, work in ((self.sender.task, bool(self.store.messages)),
                                       (self.reporter.task, self.reporter.queued),
                                       (self.webhooks.task, bool(self.webhooks.pending))):
                        task.attach(nursery, now=work)
                    self.refresher.every(self._ping)
                    if self.config.incoming_sms_per_minute > 0:
                        nursery.start_soon(self._incoming)
                    if self.uploader is not None:
                        nursery.start_soon(self.uploader.run)
                    if self.config.push == "fcm" and not self.sse_only:
                        nursery.start_soon(self._push_loop)
                        if self.fcm is not None and self.push_token:
                            self.fcm.attach(self.push_token, self)
                            stack.callback(self.fcm.detach, self.push_token)
                        notify(self.observer, "connected", self.device_id, "fcm")
                    else:
                        self.sse = SseEvents(http, self.api.base + "/events", lambda: self.api.token or "",
                                             self._sse_open, self.handle_event, self._sse_closed)
                        nursery.start_soon(self.sse.run)
                    self.emit_webhook("app:started", {"simCards": [card.view(redacted=False) for card in self.sims]})
                    assert self.registration is not None
                    task_status.started(self.registration)
            finally:
                for task in (self.sender.task, self.reporter.task, self.webhooks.task):
                    task.detach()

    async def _start_workers(self) -> None:
        """`GatewayService.start` on a registered phone: the RegistrationWorker (PATCH /device with the
        push token), PullMessagesWorker, WebhooksUpdateWorker and SettingsUpdateWorker are enqueued
        together and WorkManager runs them side by side, each with the stored token."""
        assert self.registration is not None
        self.api.token = self.registration.token
        self.puller.trigger()
        async with trio.open_nursery() as start:
            start.start_soon(partial(self._register, update=True))
            start.start_soon(self.refresher.start, *self.refresher.jobs)

    async def _register(self, update: bool) -> None:
        """POST /device (`update=False`) or PATCH /device (which registers again on a 401), retried
        with WorkManager's backoff until it succeeds."""
        failures = 0
        while True:
            try:
                self.registration, _ = await register(self.api, self.config,
                                                      self.registration if update else None,
                                                      None if self.sse_only else self.push_token, self.sims)
                notify(self.observer, "registered", self.registration.device_id)
                return
            except (ApiError, httpx.HTTPError, OSError, KeyError, ValueError) as exc:
                failures += 1
                self.notify_error("registration", str(exc))
                await trio.sleep(min(REGISTRATION_BACKOFF * 2 ** (failures - 1), MAX_BACKOFF))

    async def rotate_push_token(self, token: str) -> None:
        """FCM gave the app a new token (`onNewToken`): PATCH /device with it."""
        if self.fcm is not None and self.push_token:
            self.fcm.detach(self.push_token)
            self.fcm.attach(token, self)
        self.push_token = token
        assert self.registration is not None
        await update_device(self.api, self.registration, token, self.sims, device_key(self.config))

    async def refresh_webhooks(self) -> bool:
        try:
            hooks = await self.api.webhooks()
        except (ApiError, httpx.HTTPError, OSError, ValueError) as exc:
            self.notify_error("webhooks", str(exc))
            return False
        self.webhooks.cloud = [Webhook(str(h.get("id", "")), str(h["url"]), str(h["event"]), "Cloud")
                               for h in hooks if isinstance(h, dict) and "url" in h and "event" in h]
        return True

    async def refresh_settings(self) -> bool:
        try:
            self.settings.apply_cloud(await self.api.settings())
            return True
        except (ApiError, httpx.HTTPError, OSError, ValueError) as exc:
            self.notify_error("settings", str(exc))
            return False
        finally:  # the keys imported before a bad one stay applied
            self._apply_secrets()

    def _apply_secrets(self) -> None:
        """The passphrase and signing key the settings hold; a null signing key makes a new one (as the app)."""
        self.sender.passphrase = self.settings.passphrase
        if self.settings.signing_key is None:
            self.settings.signing_key = nanoid(8)
        self.signing_key = self.webhooks.signing_key = self.settings.signing_key

    def _ping(self) -> float:
        """PingService: the first ping at once (when enabled), then every interval; returns the delay to the
        next check (the refresher's task runs it: no task of its own)."""
        interval = self.settings.ping_interval
        if interval:
            self.emit_webhook("system:ping", {"health": self.health()})
            self.puller.trigger()
        return interval or 60.0

    async def _incoming(self) -> None:
        rate = self.config.incoming_sms_per_minute
        if rate <= 0:
            return
        count = 0
        while True:
            await trio.sleep(self.rng.expovariate(rate / 60.0))
            count += 1
            sender = "+1555" + "".join(self.rng.choice("0123456789") for _ in range(7))
            self.receive_sms_now(sender, f"Incoming message {count} from {sender}")

    # ---- events ----------------------------------------------------------------------------------

    def _sse_open(self) -> None:
        notify(self.observer, "connected", self.device_id, "sse")
        self.puller.trigger()

    def _sse_closed(self, reason: str) -> None:
        notify(self.observer, "disconnected", self.device_id, "sse")

    def push(self, data: dict[str, str]) -> bool:
        """An FCM data message for this phone (called by `FcmEndpoint`); False when it had to be dropped."""
        try:
            self._push_channel()[0].send_nowait((data.get("event") or "MessageEnqueued", data.get("data") or "null"))
            return True
        except trio.WouldBlock:
            self.notify_error("fcm", "push backlog full: message dropped")
            return False

    def _push_channel(self) -> tuple[trio.MemorySendChannel[tuple[str, str]],
                                     trio.MemoryReceiveChannel[tuple[str, str]]]:
        if self._pushes is None:
            self._pushes = trio.open_memory_channel[tuple[str, str]](256)
        return self._pushes

    async def _push_loop(self) -> None:
        async for event, data in self._push_channel()[1]:
            await self.handle_event(event, data)

    async def handle_event(self, event: str, data: str) -> None:
        """`EventsRouter`: what the app does with a push or SSE event."""
        try:
            payload = json.loads(data) if data else None
        except ValueError:
            payload = None
        if event == "MessageEnqueued":
            self.puller.trigger()
        elif event == "WebhooksUpdated":
            self.refresher.trigger("webhooks")
        elif event == "SettingsUpdated":
            self.refresher.trigger("settings")
        elif event == "MessageCancelled":
            local = self.store.get(str((payload or {}).get("messageId", "")))
            if local is not None and local.state == "Pending":
                self.cancel(local)
        elif event == "MessagesExportRequested":
            self.export_inbox(payload if isinstance(payload, dict) else {})
        else:
            self.notify_error("events", f"unknown event {event!r}")

    # ---- messages --------------------------------------------------------------------------------

    def enqueue(self, message: LocalMessage) -> None:
        self.store.insert(message, self.clock.millis())
        notify(self.observer, "message_state", self.device_id, message.id, message.state, self.clock.now())
        self.sender.wake()

    def cancel(self, message: LocalMessage) -> None:
        self.update_state(message, None, "Cancelled", None)

    def update_state(self, message: LocalMessage, phone_number: str | None, state: str, error: str | None) -> None:
        """`MessagesService.updateState`: store, then report (cloud messages) and fire webhooks."""
        change = self.store.update(message, phone_number, state, error, self.clock.millis())
        if change is None:
            return
        if change.message_state_changed:
            notify(self.observer, "message_state", self.device_id, message.id, message.state, self.clock.now())
        if message.source == "Cloud":
            self.reporter.report(message.id)
        self._state_webhooks(change)
        if message.state not in ("Pending", "Processed"):
            self.sender.wake()

    def _state_webhooks(self, change: StateChange) -> None:
        event = STATE_EVENTS.get(change.state)
        if event is None:
            return
        sim = change.message.sim_number
        sender = self.sims[sim - 1].phone_number if sim is not None and 0 < sim <= len(self.sims) else None
        now = self.clock.format()
        for number in change.phone_numbers:
            self.emit_webhook(event, message_event_payload(event, change.message, number, sender, now, change.error))

    # ---- incoming SMS ----------------------------------------------------------------------------

    async def receive_sms(self, sender: str, text: str) -> None:
        """An incoming SMS on the first SIM: stored in the inbox, fires `sms:received`."""
        self.receive_sms_now(sender, text)

    def receive_sms_now(self, sender: str, text: str, slot: int | None = 0) -> InboxEntry:
        slot = slot if self.sims and slot is not None and slot < len(self.sims) else None
        date = self.clock.millis()
        subscription = slot + 1 if slot is not None else None
        entry = InboxEntry(sender, date, subscription, slot, text=text,
                           message_id=text_message_id(sender, date, subscription, text))
        self._received(entry)
        return entry

    async def receive_data_sms(self, sender: str, data: bytes, port: int = DATA_SMS_PORT) -> None:
        """An incoming data SMS; only port 53739 reaches the app (`sms:data-received`)."""
        if port != DATA_SMS_PORT:
            return
        slot = 0 if self.sims else None
        date, subscription = self.clock.millis(), slot + 1 if slot is not None else None
        entry = InboxEntry(sender, date, subscription, slot, data=data, port=port,
                           message_id=data_message_id(sender, date, subscription, data))
        self._received(entry)

    def receive_mms(self, sender: str, *, subject: str | None = None, size: int = 0,
                    content_class: str | None = None, body: str | None = None,
                    attachments: list[dict[str, Any]] | None = None) -> str:
        """An incoming MMS on the first SIM: `mms:received` with its headers, then, once downloaded,
        `mms:downloaded` with its body and attachments (`ReceiverService`); returns its message id."""
        slot = 0 if self.sims else None
        recipient = self.sims[0].phone_number if self.sims else None
        sim_number = 1 if slot is not None else None
        transaction_id = nanoid(12)
        message_id = f"<{transaction_id}@mms.simulator>"  # the MMS Message-ID header; the app falls back to the tx id
        now = self.clock.format()
        self.emit_webhook("mms:received", mms_received_payload(message_id, transaction_id, sender, recipient,
                                                               sim_number, subject, size, content_class, now))
        if body is not None or attachments:
            self.emit_webhook("mms:downloaded", mms_downloaded_payload(message_id, sender, recipient, sim_number,
                                                                       body, subject, attachments or [], now))
        return message_id

    def sms_while_off(self, sender: str, text: str) -> InboxEntry:
        """An SMS that reached the phone's inbox while the app was not running: only an inbox export
        (`MessagesExportRequested`) makes the app process it."""
        slot = 0 if self.sims else None
        date, subscription = self.clock.millis(), slot + 1 if slot is not None else None
        entry = InboxEntry(sender, date, subscription, slot, text=text,
                           message_id=text_message_id(sender, date, subscription, text))
        self.inbox.append(entry)
        return entry

    def _received(self, entry: InboxEntry, trigger_webhooks: bool = True) -> None:
        if entry not in self.inbox:
            self.inbox.append(entry)
        key = f"{entry_type(entry)}:{entry.message_id}"
        if key in self.processed_inbox:  # `isMessageProcessed`: each SMS is processed once
            return
        self.processed_inbox.add(key)
        notify(self.observer, "sms_received", self.device_id, entry.sender, entry.text)
        recipient = self.sims[entry.slot_index].phone_number if entry.slot_index is not None else None
        received_at = self.clock.format(entry.date_ms)
        if trigger_webhooks:
            event, payload = received_payload(entry, recipient, received_at)
            self.emit_webhook(event, payload)
        if self.uploader is not None:
            self.uploader.enqueue(entry, recipient, received_at)

    def export_inbox(self, request: dict[str, Any]) -> None:
        """`MessagesExportRequested`: re-read the inbox for the period, of the requested message types,
        and process what the app has not processed yet (firing its webhooks unless told not to)."""
        since, until = parse_time(request.get("since")), parse_time(request.get("until"))
        trigger = str(request.get("triggerWebhooks", "true")).lower() != "false"
        types = export_types(request.get("messageTypes"))
        for entry in sorted(self.inbox, key=lambda e: e.date_ms):
            in_period = (since is None or entry.date_ms >= since * 1000) and (until is None
                                                                                or entry.date_ms <= until * 1000)
            if in_period and entry_type(entry) in types:
                self._received(entry, trigger)

    # ---- webhooks, health, observer ---------------------------------------------------------------

    def emit_webhook(self, event: str, payload: dict[str, Any]) -> int:
        return self.webhooks.emit(event, payload, self.device_id or None, self.local_device_id)

    def health(self) -> dict[str, Any]:
        since = self.clock.millis() - 3600_000
        processed, _ = self.store.processed_since(since)
        return health(self.config.app_version, self.store.failed_since(since), processed)

    def _webhook_result(self, result: DeliveryResult) -> None:
        notify(self.observer, "webhook", self.device_id, result.event, result.url, result.status, result.error)
        if result.error is not None:
            self.notify_error("webhook", f"{result.event} -> {result.url} attempt {result.attempt}: {result.error}")

    def notify_error(self, where: str, detail: str) -> None:
        notify(self.observer, "error", self.device_id, where, detail)
