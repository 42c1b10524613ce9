"""`Suite`: what a scenario works with — the target, a fresh HTTP client, accounts, phones, the push hub."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from ..settings import Settings
from . import phones
from .accounts import Account, device_client, new_account, user_client
from .phones import SimPhone, eventually, make_phone
from .push import PushHub
from .skips import skip
from .target import Client, Target, expect

PHONE = "+79990001234"  # a valid mobile number in the contract's default region (RU)
SSE_WAIT = 15.0  # an SSE event, or a report a phone sends after one, arrives within this


def phone_number(n: int) -> str:
    return f"+7999{n % 10_000_000:07d}"


def shown_number(state: dict[str, Any], number: str) -> str:
    """How the API shows a recipient's number: as sent, or its hash once the server hashed the message
    (contract §7.1, the privacy hashing a server may do after the device reported)."""
    return hashlib.sha256(number.encode()).hexdigest()[:16] if state.get("isHashed") else number


class Suite:
    def __init__(self, settings: Settings, http: httpx.AsyncClient, hub: PushHub | None) -> None:
        self.settings = settings
        self.http = http
        self.hub = hub
        self.target = Target.main(settings)
        # A phone that cannot start within the push wait is blocked by its prerequisite (never more than 30 s).
        phones.START_TIMEOUT = max(1.0, min(30.0, settings.push_wait))

    @property
    def push_wait(self) -> float:
        return self.settings.push_wait

    @property
    def sse_wait(self) -> float:
        return min(SSE_WAIT, self.settings.push_wait)

    def private_target(self) -> Target:
        target = Target.private(self.settings)
        if target is None:
            skip("prerequisite: a server in private mode (--private-token, with --private-server or --server)")
        return target

    def other(self) -> Target:
        """A second URL of the same deployment (another process); skips without one."""
        others = Target.others(self.settings)
        if not others:
            skip("prerequisite: a second URL of the same deployment (--server A --server B)")
        return others[0]

    async def account(self, *, join: Account | None = None, target: Target | None = None,
                      payload: dict[str, Any] | None = None) -> Account:
        return await new_account(self.http, self.settings, target or self.target, join=join, payload=payload)

    async def fresh_account(self, target: Target | None = None) -> Account:
        """An account that is a user of its own; skips when the suite may only use the configured user."""
        account = await self.account(target=target)
        if not account.fresh:
            skip("prerequisite: a new user of its own (not possible with --login/--password)")
        return account

    def user(self, account: Account, target: Target | None = None) -> Client:
        return user_client(self.http, target or self.target, account)

    def device(self, account: Account, target: Target | None = None) -> Client:
        return device_client(self.http, target or self.target, account)

    def phone(self, *, join: Account | None = None, target: Target | None = None, push: str = "sse",
              **config: Any) -> SimPhone:
        target = target or self.target
        login = password = None
        if join is None and self.settings.login and target.root == self.target.root:
            login, password = self.settings.login, self.settings.password
        return make_phone(target.mobile, private_token=target.private_token, join=join, login=login,
                          password=password, push=push, hub=self.hub, **config)

    def fcm_hub(self) -> PushHub:
        """The hub, with its FCM endpoint; skips without --fcm-credentials."""
        if self.hub is None or self.hub.fcm is None:
            skip("prerequisite: the target's FCM pointed at the suite (--fcm-credentials)")
        return self.hub

    def relay_hub(self) -> PushHub:
        if self.hub is None or not self.settings.relay_listen:
            skip("prerequisite: --relay-listen, with the private target's gateway.upstream_url pointed at it")
        return self.hub

    def fcm_phone(self, **config: Any) -> SimPhone:
        self.fcm_hub()
        return self.phone(push="fcm", **config)

    async def send(self, account: Account, message: dict[str, Any], *, params: dict[str, str] | None = None,
                   target: Target | None = None) -> dict[str, Any]:
        """POST /messages (to the account's own device unless `deviceId` is given), which must answer 202."""
        message = {"deviceId": account.device_id, **message}
        answer = await self.user(account, target).ok("POST", "/messages", 202, json=message, params=params)
        assert isinstance(answer, dict) and answer.get("id"), f"202 without a message state: {answer!r}"
        return answer

    async def text(self, account: Account, text: str = "conformance", *, to: str = PHONE,
                   target: Target | None = None, **extra: Any) -> str:
        message = {"textMessage": {"text": text}, "phoneNumbers": [to], **extra}
        return str((await self.send(account, message, target=target))["id"])

    async def message(self, account: Account, message_id: str, target: Target | None = None) -> dict[str, Any]:
        response = expect(await self.user(account, target).get(f"/messages/{message_id}"), 200)
        return dict(response.json())

    async def until_state(self, account: Account, message_id: str, state: str, within: float | None = None,
                          sim: SimPhone | None = None, target: Target | None = None) -> dict[str, Any]:
        last: dict[str, Any] = {}

        async def reached() -> dict[str, Any] | None:
            last.update(await self.message(account, message_id, target))
            return dict(last) if last.get("state") == state else None

        def what() -> str:
            seen = f"message {message_id} in state {state} (last seen: {last.get('state')})"
            return seen + (f" (phone: {sim.journal.summary()})" if sim is not None else "")

        return dict(await eventually(reached, within or self.sse_wait, what, step=0.1))
