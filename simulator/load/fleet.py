"""The fleet: this shard's phones, grouped into accounts, started at the ramp rate and kept running.

The first phone of an account registers on its own (anonymously, or with the private token); the
others join its account with its login and password, as a user adding a second phone would. The
second joins alone and the rest after it: the server checks a password with bcrypt (~0.1 s of CPU)
until it has seen it succeed once, so nine phones joining at once would cost nine checks.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from ..phone import PhoneConfig, PhoneObserver, RadioConfig, Registration
from .config import RunConfig
from .tracker import Tracker

REGISTRATION_ATTEMPTS = 3
REGISTRATION_TIMEOUT = 120.0  # the phone itself retries registering for ever, as the app does
REFUSED = ("401", "403", "404")  # answers to registering that another attempt will not change
# how each kind of registration reads in the report: it tells which credentials the server refused
METHODS = {"anonymous": "new account", "private": "new account with the private token", "basic": "Basic join",
           "code": "Code join"}


class PhoneLike(Protocol):
    registration: Registration | None

    async def run(self, *, task_status: Any = ...) -> None: ...


PhoneFactory = Callable[[PhoneConfig, PhoneObserver, int], PhoneLike]  # config, observer, phone number


@dataclass
class Account:
    index: int
    phones: list[int]  # fleet-wide phone numbers (0-based)
    login: str | None = None
    password: str | None = None
    device_ids: list[str] = field(default_factory=list)
    ready: trio.Event = field(default_factory=trio.Event)  # the first phone registered (or gave up)
    joined: trio.Event = field(default_factory=trio.Event)  # the second phone joined (or gave up)

    @property
    def usable(self) -> bool:
        return bool(self.login and self.password and self.device_ids)


def plan_accounts(config: RunConfig) -> list[Account]:
    """This shard's phones (K-1, K-1+N, ...) in accounts of `phones_per_account`."""
    phones = list(range(config.shard.index - 1, config.devices, config.shard.count))
    size = config.phones_per_account
    return [Account(index, phones[start:start + size]) for index, start in enumerate(range(0, len(phones), size))]


class PhoneWatch:
    """One phone's observer: forwards everything to the tracker, and ends a registration the server refused.

    The phone retries registering for ever, as the app does; a 401, 403 or 404 will not change, so the
    fleet stops waiting at the first one (wrong private token, wrong login, wrong prefix) instead of after
    minutes. Registration errors are kept here: the fleet records one line per phone that gave up (with how
    it registered), not one per attempt.
    """

    def __init__(self, tracker: Tracker, inbound: Any = None) -> None:
        self.tracker = tracker
        self.inbound = inbound  # an InboundTracker with --inbound-rate
        self.refused: str | None = None
        self.registering = trio.CancelScope()
        self.registration_errors: list[str] = []

    def __getattr__(self, name: str) -> Any:  # the phone's optional calls (sms_received, webhook, ...)
        return getattr(self.tracker, name)

    def registered(self, device_id: str) -> None:
        self.tracker.registered(device_id)

    def connected(self, device_id: str, transport: str) -> None:
        self.tracker.connected(device_id, transport)

    def disconnected(self, device_id: str, transport: str) -> None:
        self.tracker.disconnected(device_id, transport)

    def webhook(self, device_id: str, event: str, url: str, status: int | None, error: str | None) -> None:
        if self.inbound is not None:
            self.inbound.webhook_result(event, status)

    def message_state(self, device_id: str, message_id: str, state: str, at: Any) -> None:
        self.tracker.message_state(device_id, message_id, state, at)

    def error(self, device_id: str, where: str, detail: str) -> None:
        if where != "registration":
            self.tracker.error(device_id, where, detail)
            return
        self.registration_errors.append(detail)
        if detail.startswith(REFUSED):
            self.refused = detail
            self.registering.cancel()


def made_up_key(number: int) -> str:
    """A phone's stand-in public key: base64 and distinct per phone, all the server checks (an RSA key per phone
    would cost a key generation each)."""
    return base64.b64encode(hashlib.sha256(f"smsgate-sim/phone-{number}".encode()).digest() * 8).decode()


class Fleet:
    def __init__(self, config: RunConfig, tracker: Tracker, factory: PhoneFactory, inbound: Any = None) -> None:
        self.config = config
        self.tracker = tracker
        self.inbound = inbound
        self.factory = factory
        self.accounts = plan_accounts(config)
        self.phones: dict[int, PhoneLike] = {}
        self.started = 0  # phones that registered and run
        self.failed = 0  # phones that gave up registering
        self.ramped = trio.Event()
        self.running: set[int] = set()  # phones registered and not stopped by the stages
        self._scopes: dict[int, trio.CancelScope] = {}

    @property
    def size(self) -> int:
        return sum(len(account.phones) for account in self.accounts)

    def usable_accounts(self) -> list[Account]:
        return [account for account in self.accounts if account.usable]

    def running_phones(self) -> list[PhoneLike]:
        return [self.phones[number] for number in sorted(self.running)]

    def online_accounts(self) -> list[Account]:
        """Usable accounts with a phone running now (with --stages, phones come and go)."""
        return [account for account in self.usable_accounts() if self.running.intersection(account.phones)]

    def phone_config(self, account: Account, number: int) -> PhoneConfig:
        config = self.config
        first = number == account.phones[0]
        radio = RadioConfig(sent_latency=config.sent_latency, delivered_latency=config.delivered_latency,
                            send_failure_rate=config.failure_rate,
                            seed=None if config.seed is None else config.seed * 1_000_003 + number)
        if first:
            registration = "private" if config.private_token else "anonymous"
        else:
            registration = "basic"
        return PhoneConfig(
            server=config.mobile_url, name=f"smsgate-sim/phone-{number}",
            registration=registration,  # type: ignore[arg-type]
            private_token=config.private_token if first else None,
            login=None if first else account.login, password=None if first else account.password,
            push=config.push,
            fcm_token=f"sim-{number}-{secrets.token_hex(8)}" if config.push == "fcm" else None,
            radio=radio, passphrase=config.inbox_upload, inbox_upload=config.inbox_upload is not None,
            key_version=config.key_version, public_key=None if config.key_version is None else made_up_key(number),
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start every phone at the ramp rate; `started()` once each registered or gave up; then run them."""
        if self.config.stages is not None:
            self.ramped.set()  # traffic runs along the stages
            task_status.started()
            await self._follow_stages()
            return
        per_second = self.config.ramp / self.config.shard.count
        order = [(account, number) for account in self.accounts for number in account.phones]
        order.sort(key=lambda item: item[1])
        remaining = len(order)
        async with trio.open_nursery() as nursery:
            begin = trio.current_time()

            async def start_one(account: Account, number: int) -> None:
                nonlocal remaining
                try:
                    await self._start(nursery, account, number)
                finally:
                    remaining -= 1
                    if remaining == 0:
                        self.ramped.set()

            for position, (account, number) in enumerate(order):
                await trio.sleep_until(begin + position / per_second)
                nursery.start_soon(start_one, account, number)
            await self.ramped.wait()
            task_status.started()

    async def _follow_stages(self, tick: float = 0.25) -> None:
        """Keep the first `target(t)` of this shard's phones running: start (or restart) and stop phones."""
        order = sorted((number, account) for account in self.accounts for number in account.phones)
        pending: set[int] = set()
        async with trio.open_nursery() as nursery:

            async def start(account: Account, number: int) -> None:
                try:
                    if number in self.phones:  # stopped earlier: the same phone again (PATCH /device)
                        await nursery.start(self._supervise, self.phones[number], number)
                        self.running.add(number)
                    else:
                        await self._start(nursery, account, number)
                finally:
                    pending.discard(number)

            begin = trio.current_time()
            while True:
                target = self.config.shard_online_target(trio.current_time() - begin)
                for position, (number, account) in enumerate(order):
                    if position < target and number not in self.running and number not in pending:
                        if number in self.phones or number not in self._scopes:  # not one that gave up
                            pending.add(number)
                            nursery.start_soon(start, account, number)
                    elif position >= target and number in self.running:
                        self.stop_phone(number)
                await trio.sleep(tick)

    def stop_phone(self, number: int) -> None:
        self.running.discard(number)
        self._scopes[number].cancel()
        phone = self.phones[number]
        if phone.registration is not None:
            self.tracker.disconnected(phone.registration.device_id, "stopped")

    async def _start(self, nursery: trio.Nursery, account: Account, number: int) -> None:
        first = number == account.phones[0]
        second = len(account.phones) > 1 and number == account.phones[1]
        method = METHODS[self.phone_config(account, number).registration]
        try:
            if not first:
                await (account.ready if second else account.joined).wait()
                if not account.login:
                    self.failed += 1
                    self.tracker.registration_failed(f"phone {number} ({method}): not tried, its account's first "
                                                     "phone never registered")
                    return
            failure = ""
            for attempt in range(REGISTRATION_ATTEMPTS):
                watch = PhoneWatch(self.tracker, self.inbound)
                phone = self.factory(self.phone_config(account, number), watch, number)
                registration: Registration | None = None
                try:
                    with watch.registering:
                        watch.registering.deadline = trio.current_time() + REGISTRATION_TIMEOUT
                        registration = await nursery.start(self._supervise, phone, number)
                except Exception as exc:  # noqa: BLE001 - any failure to register is retried, then counted
                    failure = f"{exc!r}"
                    await trio.sleep(2**attempt)
                    continue
                if registration is None:
                    last = watch.registration_errors[-1] if watch.registration_errors else "no answer"
                    failure = (f"refused: {watch.refused}" if watch.refused else
                               f"not registered within {REGISTRATION_TIMEOUT:.0f} s; last error: {last}")
                    break
                if watch.registration_errors:  # it got there, after failed attempts: worth knowing, not a failure
                    self.tracker.error(registration.device_id, "registration retried",
                                       f"phone {number} ({method}) registered after {len(watch.registration_errors)}"
                                       f" failed attempt(s); the first: {watch.registration_errors[0]}")
                self.phones[number] = phone
                self.running.add(number)
                self.started += 1
                account.device_ids.append(registration.device_id)
                if first:
                    account.login, account.password = registration.login, registration.password
                return
            self.failed += 1
            self.tracker.registration_failed(f"phone {number} ({method}): {failure}")
            self._scopes.setdefault(number, trio.CancelScope())  # marks it as given up for the stages
        finally:
            if first:
                account.ready.set()
                if len(account.phones) == 1:
                    account.joined.set()
            if second:
                account.joined.set()

    async def _supervise(self, phone: PhoneLike, number: int,
                         task_status: trio.TaskStatus[Registration] = trio.TASK_STATUS_IGNORED) -> None:
        """Run one phone; a crash after registration is recorded, not allowed to stop the fleet."""
        started = False

        class Status:
            def started(self, value: Registration | None = None) -> None:
                nonlocal started
                started = True
                task_status.started(value)  # type: ignore[arg-type]

        scope = self._scopes[number] = trio.CancelScope()
        try:
            with scope:
                await phone.run(task_status=Status())
        except Exception as exc:
            if not started:
                raise
            device_id = phone.registration.device_id if phone.registration else f"phone-{number}"
            self.tracker.disconnected(device_id, "crash")
            self.tracker.error(device_id, "phone", f"the phone stopped: {exc!r}")
