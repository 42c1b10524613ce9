"""The send loop (`MessagesService.sendPendingMessages`) and its rules.

* Next message: priority DESC, then createdAt DESC (LIFO) or ASC (FIFO), due `scheduleAt` only.
* Priority >= 100 bypasses the rate limit and the send interval, unless the previous message had a
  higher or equal priority.
* Rate limit (`limit_period`/`limit_value`): counts messages processed in the trailing window; when
  reached, sleeps `period - (now - newest processed) + 1 s`.
* Send interval: a random whole number of seconds in [min, max] after each message.
* `validUntil` passed just before sending: every recipient Failed "TTL expired".
* SIM: `simNumber` as given (1-based; "SIM N not found" when absent), else by `sim_selection_mode`.
* Errors before the per-recipient loop fail all ("Can't send message: ..."); per recipient
  ("sendSMS: ..."). The radio then reports Sent / Delivered per part, or Failed.
"""

from __future__ import annotations

import base64
import binascii
import random
from collections.abc import Callable

import trio

from .clock import PhoneClock
from .crypto import decrypt_text
from .ondemand import OnDemand
from .radio import Outcome, Radio, divide_message
from .registration import SimCard
from .settings import DeviceSettings
from .store import PRIORITY_EXPEDITED, PRIORITY_MIN, LocalMessage, MessageStore

Update = Callable[[LocalMessage, str | None, str, str | None], None]


class Sender:
    def __init__(self, *, store: MessageStore, settings: DeviceSettings, clock: PhoneClock, radio: Radio,
                 sims: list[SimCard], passphrase: str | None, rng: random.Random, update: Update) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.radio = radio
        self.sims = sims
        self.passphrase = passphrase
        self.rng = rng
        self.update = update
        self.nursery: trio.Nursery | None = None
        self._wake = trio.Event()
        self.task = OnDemand(self._run_attached)  # started at the first message: an idle phone sends nothing

    def wake(self) -> None:
        self._wake.set()
        self.task.start()

    async def _run_attached(self) -> None:
        assert self.task.nursery is not None
        await self.run(self.task.nursery)

    async def run(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        previous = PRIORITY_MIN
        while True:
            message = self.store.next_pending(self.clock.timestamp(), self.settings.processing_order == "fifo")
            if message is None:
                previous = PRIORITY_MIN  # the worker ends; its next run starts afresh
                await self._idle()
                continue
            await trio.sleep(0.001)  # the app's delay(1L)
            priority = message.priority
            if priority < PRIORITY_EXPEDITED or previous >= priority:
                await self.apply_limit()
            if message.state != "Pending":
                continue  # cancelled meanwhile
            if not await self.send(message):
                continue
            if priority >= PRIORITY_EXPEDITED and previous < priority:
                previous = priority
                continue
            previous = priority
            interval = self.settings.send_interval
            if interval is not None:
                await trio.sleep(self.rng.randint(*interval))

    async def _idle(self) -> None:
        self._wake = trio.Event()
        upcoming = self.store.next_scheduled(self.clock.timestamp())
        if upcoming is None:
            await self._wake.wait()
            return
        with trio.move_on_after(max(0.0, upcoming - self.clock.timestamp())):
            await self._wake.wait()

    async def apply_limit(self) -> None:
        window = self.settings.limit_seconds
        if not window:
            return
        now = self.clock.millis()
        count, newest = self.store.processed_since(now - window * 1000)
        if count < (self.settings.limit_value or 0):
            return
        await trio.sleep((window * 1000 - (now - newest) + 1000) / 1000)

    async def _decrypt(self, value: str) -> str:
        return await trio.to_thread.run_sync(decrypt_text, self.passphrase, value)

    async def _base64(self, message: LocalMessage, value: str) -> None:
        """Decrypt (when encrypted) and check base64 data, as the app does before sending a data SMS."""
        data = await self._decrypt(value) if message.is_encrypted else value
        try:
            base64.b64decode(data.replace("\n", ""), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"Invalid Base64 data for message {message.id}") from exc

    def select_slot(self, message: LocalMessage) -> int | None:
        if message.sim_number is not None:
            return message.sim_number - 1
        if not self.sims:
            raise RuntimeError("No SIMs found")
        slots = sorted(card.slot_index for card in self.sims)
        mode = self.settings.sim_selection_mode
        if mode == "RoundRobin":
            return slots[message.row_id % len(slots)]
        if mode == "Random":
            return self.rng.choice(slots)
        return None

    async def send(self, message: LocalMessage) -> bool:
        """True when the message went to the radio (`sendMessage`)."""
        if message.valid_until is not None and message.valid_until < self.clock.timestamp():
            self.update(message, None, "Failed", "TTL expired")
            return False
        try:
            slot = self.select_slot(message)
            if message.sim_number is None and slot is not None:
                message.sim_number = slot + 1
            if slot is not None and slot not in {card.slot_index for card in self.sims}:
                raise RuntimeError(f"SIM {slot + 1} not found")
            if message.mms is not None:  # one MMS goes as one unit: Processed -> Sent -> Delivered once
                for part in message.mms["attachments"]:
                    await self._base64(message, str(part.get("data", "")))
                parts = 1
            elif message.data is not None:
                await self._base64(message, message.data)
                parts = 1
            else:
                text = message.text or ""
                if message.is_encrypted:
                    text = await self._decrypt(text)
                parts = len(divide_message(text))
            message.parts_count = parts
        except Exception as exc:  # noqa: BLE001 - the app catches everything here
            self.update(message, None, "Failed", f"Can't send message: {exc}")
            return False
        for recipient in list(message.recipients):
            source = recipient.phone_number
            try:
                number = await self._decrypt(source) if message.is_encrypted else source
                number = "".join(ch for ch in number if ch.isdigit() or ch in "+*#")
                if not number:
                    raise ValueError("Invalid destinationAddress")
                outcome = self.radio.outcome(parts, message.with_delivery_report)
                assert self.nursery is not None
                self.nursery.start_soon(self._transmit, message, source, outcome)
                self.update(message, source, "Processed", None)
            except Exception as exc:  # noqa: BLE001
                self.update(message, source, "Failed", f"sendSMS: {exc}")
        return True

    async def _transmit(self, message: LocalMessage, phone_number: str, outcome: Outcome) -> None:
        await trio.sleep(outcome.sent_at)
        if outcome.send_error is not None:
            self.update(message, phone_number, "Failed", outcome.send_error)
            return
        if outcome.sent_uri:  # the sent intent fires once per part: each is an update (report, sms:sent)
            for _ in range(max(1, message.parts_count or 1)):
                self.update(message, phone_number, "Sent", None)
        elapsed = outcome.sent_at
        for at, state, error in outcome.deliveries:
            await trio.sleep(at - elapsed)
            elapsed = at
            self.update(message, phone_number, state, error)
