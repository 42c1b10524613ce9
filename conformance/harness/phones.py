"""Simulated phones (the simulator's `Phone`) as the device side of a scenario, and waiting for things."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn, cast

import trio

from simulator.phone import Phone, PhoneConfig, RadioConfig

from . import blocking
from .accounts import Account

if TYPE_CHECKING:
    from simulator.phone import FcmEndpoint

    from .push import PushHub

FAST_RADIO = RadioConfig(sent_latency=(0.02, 0.05), delivered_latency=(0.05, 0.1), seed=7)
FAILING_RADIO = RadioConfig(sent_latency=(0.02, 0.05), delivered_latency=(0.05, 0.1), send_failure_rate=1.0, seed=7)
START_TIMEOUT = 30.0
SETTLE = 0.4


@dataclass
class Journal:
    """A phone observer: what the phone went through, for assertions and failure messages."""

    errors: list[str] = field(default_factory=list)
    states: list[tuple[str, str]] = field(default_factory=list)
    transports: list[str] = field(default_factory=list)

    def registered(self, device_id: str) -> None:
        pass

    def disconnected(self, device_id: str, transport: str) -> None:
        pass

    def error(self, device_id: str, where: str, detail: str) -> None:
        self.errors.append(f"{where}: {detail}")

    def message_state(self, device_id: str, message_id: str, state: str, at: datetime) -> None:
        self.states.append((message_id, state))

    def connected(self, device_id: str, transport: str) -> None:
        self.transports.append(transport)

    def summary(self) -> str:
        return "; ".join(self.errors[-5:]) or "no errors"


@dataclass
class SimPhone:
    phone: Phone
    journal: Journal

    @property
    def account(self) -> Account:
        registration = self.phone.registration
        assert registration is not None, "the phone has not registered"
        password = registration.password or self.phone.config.password or ""
        return Account(registration.login, password, registration.device_id, registration.token,
                       registration.password is not None)

    @property
    def push_token(self) -> str:
        return self.phone.push_token or ""


def make_phone(mobile_url: str, *, private_token: str | None = None, join: Account | None = None,
               login: str | None = None, password: str | None = None, push: str = "sse",
               hub: PushHub | None = None, radio: RadioConfig = FAST_RADIO, **config: Any) -> SimPhone:
    """A phone for `mobile_url`: joining `join`'s user (Basic), or the given user, or a new user."""
    if join is not None:
        login, password = join.login, join.password
    registration = config.pop("registration", "basic" if login and password else "anonymous")
    phone_config = PhoneConfig(server=mobile_url, registration=registration,  # type: ignore[arg-type]
                               private_token=private_token, login=login, password=password, push=push,  # type: ignore[arg-type]
                               radio=radio, pull_interval=config.pop("pull_interval", 3600.0), **config)
    journal = Journal()
    fcm = cast("FcmEndpoint", hub) if push == "fcm" and hub is not None else None
    return SimPhone(Phone(phone_config, observer=journal, fcm=fcm), journal)


@asynccontextmanager
async def running(*phones: SimPhone) -> AsyncIterator[None]:
    """Runs the phones (registered and listening once this yields) until the block ends."""
    async with trio.open_nursery() as nursery:
        for sim in phones:
            try:
                with trio.fail_after(START_TIMEOUT):
                    await nursery.start(sim.phone.run)
                    while not sim.journal.transports:  # noqa: ASYNC110 - the SSE stream (or FCM) is up
                        await trio.sleep(0.02)
            except trio.TooSlowError:
                not_started(sim)
        # The pulls a start triggers are over before the scenario acts: a message the phone sees twice while
        # it holds it is re-reported (as the app does), which the server stores as Processed.
        await trio.sleep(SETTLE)
        yield
        nursery.cancel_scope.cancel()


REGISTRATION_ROOTS = {"basic": (blocking.BASIC_JOIN, "Basic join of an existing user"),
                      "code": (blocking.OTP_JOIN, "Code join (one-time code)"),
                      "private": (blocking.NEW_USER, "new user, with the private token"),
                      "anonymous": (blocking.NEW_USER, "new user")}


def not_started(sim: SimPhone) -> NoReturn:
    """Why a phone did not start, as the root cause it depends on: its registration or its event stream."""
    config = sim.phone.config
    seen = f": {sim.journal.summary()}" if sim.journal.errors else " (the phone saw no error)"
    if sim.phone.registration is None:
        root, method = REGISTRATION_ROOTS.get(config.registration, (blocking.NEW_USER, config.registration))
        if config.registration == "anonymous" and config.private_token:
            method = "new user, with the private token"
        blocking.block(root, f"a simulated phone could not register within {START_TIMEOUT:.0f} s ({method}){seen}")
    if config.push == "sse":
        blocking.block(blocking.SSE_OPENS, f"a simulated phone registered, but its event stream (GET "
                                           f"{config.server}/events) gave no response within {START_TIMEOUT:.0f} s"
                                           f"{seen}")
    raise AssertionError(f"a simulated phone registered, but did not start listening for {config.push} pushes "
                         f"within {START_TIMEOUT:.0f} s{seen}")


async def eventually(check: Callable[[], Any], within: float, what: str | Callable[[], str],
                     step: float = 0.05) -> Any:
    """Polls a sync or async `check` until it returns a truthy value; fails naming `what`."""
    last: Any = None
    with trio.move_on_after(within):
        while True:
            last = check()
            if hasattr(last, "__await__"):
                last = await last
            if last:
                return last
            await trio.sleep(step)
    description = what() if callable(what) else what
    raise AssertionError(f"{description}: not seen within {within:.0f} s (last: {str(last)[:300]})")
