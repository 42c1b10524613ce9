"""An in-memory world for driver tests: a 3rd-party API (httpx.MockTransport) and phones that obey it.

The fake server hands each accepted message to one of the account's phones, except every
`lose_every`-th (never handed over: lost) and every `stick_every`-th (the phone stops at Sent: stuck).
Every `drop_every`-th send times out before anything is stored; every `unanswered_every`-th times out after the
message was stored and handed over (the sender never learns it was accepted).
"""

from __future__ import annotations

import base64
import itertools
import json
import math
from datetime import UTC, datetime
from typing import Any

import httpx
import trio

from simulator.phone import PhoneConfig, PhoneObserver, Registration


class FakeServer:
    def __init__(self, lose_every: int = 0, stick_every: int = 0, drop_every: int = 0,
                 unanswered_every: int = 0, send_status: int = 202, phones_online: bool = True) -> None:
        self.send_status = send_status  # what an accepted send answers (the contract: 202)
        self.phones_online = phones_online  # False: phones register but never connect (SSE never opens)
        self.lose_every = lose_every
        self.stick_every = stick_every
        self.drop_every = drop_every
        self.unanswered_every = unanswered_every
        self.dropped: set[str] = set()
        self.unanswered: set[str] = set()
        self.passwords: dict[str, str] = {}
        self.phones: dict[str, list[FakePhone]] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.sequence = itertools.count(1)
        self.users = itertools.count(1)
        self.lost: set[str] = set()
        self.stuck: set[str] = set()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def _login(self, request: httpx.Request) -> str | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Basic":
            return None
        login, _, password = base64.b64decode(value).decode().partition(":")
        return login if self.passwords.get(login) == password else None

    async def handle(self, request: httpx.Request) -> httpx.Response:
        login = self._login(request)
        if login is None:
            return httpx.Response(401, json={"message": "Unauthorized"})
        if request.method == "POST" and request.url.path == "/api/3rdparty/v1/messages":
            body = json.loads(request.content)
            n = next(self.sequence)
            if self.drop_every and n % self.drop_every == 0:
                self.dropped.add(body["id"])
                raise httpx.ReadTimeout("timed out", request=request)
            phones = self.phones[login]
            phone = phones[n % len(phones)]
            self.messages[body["id"]] = {"id": body["id"], "state": "Pending", "deviceId": phone.device_id,
                                         "login": login, "states": {"Pending": datetime.now(UTC).isoformat()}}
            if self.lose_every and n % self.lose_every == 0:
                self.lost.add(body["id"])
            else:
                stick = bool(self.stick_every and n % self.stick_every == 0)
                if stick:
                    self.stuck.add(body["id"])
                phone.inbox.send_nowait((body["id"], stick))
            if self.unanswered_every and n % self.unanswered_every == 0:
                self.unanswered.add(body["id"])
                raise httpx.ReadTimeout("timed out", request=request)
            return httpx.Response(self.send_status,
                                  json={k: v for k, v in self.messages[body["id"]].items() if k != "login"})
        if request.method == "GET" and request.url.path == "/api/3rdparty/v1/messages":
            mine = [m for m in self.messages.values() if m["login"] == login]
            offset, limit = int(request.url.params.get("offset", 0)), int(request.url.params.get("limit", 50))
            page = [{k: v for k, v in m.items() if k != "login"} for m in mine[offset:offset + limit]]
            return httpx.Response(200, json=page, headers={"X-Total-Count": str(len(mine))})
        return httpx.Response(404, json={"message": "not found"})

    def report(self, message_id: str, state: str) -> None:
        message = self.messages[message_id]
        message["state"] = state
        message["states"][state] = datetime.now(UTC).isoformat()


class FakePhone:
    def __init__(self, server: FakeServer, config: PhoneConfig, observer: PhoneObserver) -> None:
        self.server = server
        self.config = config
        self.observer = observer
        self.registration: Registration | None = None
        self.device_id = ""
        self.inbox, self._outbox = trio.open_memory_channel[tuple[str, bool]](math.inf)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        await trio.lowlevel.checkpoint()
        if self.config.registration == "basic":
            login, password = self.config.login or "", self.config.password or ""
            if self.server.passwords.get(login) != password:
                raise RuntimeError("401 Unauthorized")
        else:
            login, password = f"user{next(self.server.users)}", "secret"
            self.server.passwords[login] = password
            self.server.phones[login] = []
        self.device_id = f"dev-{login}-{len(self.server.phones[login])}"
        self.server.phones[login].append(self)
        self.registration = Registration(self.device_id, "token", login, password)
        self.observer.registered(self.device_id)
        task_status.started(self.registration)
        if self.server.phones_online:
            self.observer.connected(self.device_id, "sse")
        try:
            async for message_id, stick in self._outbox:
                for state in ("Processed", "Sent") if stick else ("Processed", "Sent", "Delivered"):
                    await trio.sleep(0.01)
                    self.server.report(message_id, state)
                    self.observer.message_state(self.device_id, message_id, state, datetime.now(UTC))
        finally:
            self.observer.disconnected(self.device_id, "sse")


def factory(server: FakeServer) -> Any:
    return lambda config, observer, number: FakePhone(server, config, observer)
