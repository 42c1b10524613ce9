"""Simulated phones against the reference server over real HTTP (Hypercorn in this Trio run): events over
SSE and over FCM (the server's firebase-admin pointed at the phone's `FcmEndpoint`), the exact PATCH
shapes of send -> Sent -> Delivered, cancelling, encrypted messages, registration modes and the 401
rule, and signed webhooks received over HTTPS by a receiver trusting a CA made here."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from conftest import make_settings
from phone_certs import make_ca_and_leaf
from sse_client import served

from reference_server.app import create_app
from simulator.phone import FcmEndpoint, Phone, PhoneConfig, RadioConfig, encrypt_text

pytestmark = pytest.mark.slow

API = "/api/3rdparty/v1"
FAST = RadioConfig(sent_latency=(0.02, 0.05), delivered_latency=(0.05, 0.1), seed=5)
PLUS7 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+07:00$")


@dataclass
class Server:
    base: str
    http: httpx.AsyncClient
    app: Any

    @property
    def mobile(self) -> str:
        return self.base + "/api/mobile/v1"

    async def send(self, phone: Phone, body: dict[str, Any]) -> str:
        reg = phone.registration
        assert reg is not None and reg.password is not None
        response = await self.http.post(f"{self.base}{API}/messages", json=body, auth=(reg.login, reg.password))
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    async def state(self, phone: Phone, message_id: str) -> dict[str, Any]:
        reg = phone.registration
        assert reg is not None and reg.password is not None
        response = await self.http.get(f"{self.base}{API}/messages/{message_id}", auth=(reg.login, reg.password))
        return dict(response.json())

    async def until_state(self, phone: Phone, message_id: str, state: str, within: float = 10) -> dict[str, Any]:
        with trio.fail_after(within):
            while True:
                found = await self.state(phone, message_id)
                if found["state"] == state:
                    return found
                await trio.sleep(0.05)


@asynccontextmanager
async def reference_server(tmp_path: Path, **env: str) -> AsyncIterator[Server]:
    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'sim.db'}", **env))
    async with served(app) as base, httpx.AsyncClient(timeout=10) as http:
        yield Server(base, http, app)


@dataclass
class Recorder:
    """The phone's HTTP client, recording what it sends."""

    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self) -> httpx.AsyncClient:
        async def record(request: httpx.Request) -> None:
            self.requests.append((request.method, request.url.path.removeprefix("/api/mobile/v1"), request.content))

        self.clients.append(httpx.AsyncClient(timeout=30, event_hooks={"request": [record]}))
        return self.clients[-1]

    async def __aenter__(self) -> Recorder:
        return self

    async def __aexit__(self, *exc: object) -> None:  # idle keep-alive connections would hold the server
        for client in self.clients:
            await client.aclose()

    def patches(self, message_id: str | None = None) -> list[bytes]:
        return [body for method, path, body in self.requests if (method, path) == ("PATCH", "/message")
                and (message_id is None or json.loads(body)[0]["id"] == message_id)]


@asynccontextmanager
async def running(*phones: Phone) -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as nursery:
        for phone in phones:
            await nursery.start(phone.run)
        yield nursery
        nursery.cancel_scope.cancel()


async def until(predicate: Callable[[], bool], within: float = 10) -> None:
    with trio.fail_after(within):
        while not predicate():  # noqa: ASYNC110
            await trio.sleep(0.02)


async def test_sse_send_sent_delivered_with_the_exact_patches(tmp_path: Path) -> None:
    recorder = Recorder()
    async with reference_server(tmp_path) as server, recorder:
        phone = Phone(PhoneConfig(server=server.mobile, tz_offset_minutes=420, radio=FAST), http=recorder.client())
        async with running(phone):
            message_id = await server.send(phone, {"textMessage": {"text": "Hello = <world>"},
                                                   "phoneNumbers": ["+79990000001", "+79990000002"]})
            final = await server.until_state(phone, message_id, "Delivered")
    bodies = recorder.patches(message_id)
    assert all(body.startswith(b'[{"id":"' + message_id.encode() + b'","state":"') for body in bodies)
    items = [json.loads(body)[0] for body in bodies]
    assert all(list(item) == ["id", "state", "recipients", "states"] for item in items)
    # Processed x2, Sent x2, Delivered x2 (one part each); maybe one more from the second pull at start
    assert [i["state"] for i in items][-6:-2] == ["Processed", "Processed", "Sent", "Sent"] or len(items) >= 6
    last = items[-1]
    assert last["state"] == "Delivered"
    assert last["recipients"] == [{"phoneNumber": "+79990000001", "state": "Delivered"},
                                  {"phoneNumber": "+79990000002", "state": "Delivered"}]
    assert list(last["states"]) == ["Pending", "Processed", "Sent", "Delivered"]
    assert all(PLUS7.match(t) for t in last["states"].values())
    firsts = [i["states"] for i in items]
    assert all(s["Pending"] == last["states"]["Pending"] for s in firsts)  # first-reached times never move
    assert final["recipients"] == [{"phoneNumber": "+79990000001", "state": "Delivered"},
                                   {"phoneNumber": "+79990000002", "state": "Delivered"}]
    assert set(final["states"]) == {"Pending", "Processed", "Sent", "Delivered"}
    register = next(body for method, path, body in recorder.requests if (method, path) == ("POST", "/device"))
    assert b"pushToken" not in register  # SSE-only phones register without a push token


async def test_cancel_over_sse_and_for_a_message_the_phone_never_saw(tmp_path: Path) -> None:
    recorder = Recorder()
    async with reference_server(tmp_path) as server, recorder:
        phone = Phone(PhoneConfig(server=server.mobile, radio=FAST), http=recorder.client())
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        async with running(phone):
            # The pull on the stream's opening must be over first: a second pull that sees the message again
            # re-reports it (the app does), which the server takes as Processed, and a cancel would then be 409.
            await until(lambda: phone.puller.pulls >= 1)
            scheduled = await server.send(phone, {"textMessage": {"text": "later"}, "phoneNumbers": ["+79990000003"],
                                                  "scheduleAt": later})
            await until(lambda: phone.store.get(scheduled) is not None)
            reg = phone.registration
            assert reg is not None and reg.password is not None
            response = await server.http.delete(f"{server.base}{API}/messages/{scheduled}",
                                                auth=(reg.login, reg.password))
            assert response.status_code == 200, response.text
            await server.until_state(phone, scheduled, "Cancelled")
        # the phone is off: a message is sent and cancelled meanwhile; on start it answers Cancelling
        unseen = await server.send(phone, {"textMessage": {"text": "x"}, "phoneNumbers": ["+79990000004"]})
        await server.http.delete(f"{server.base}{API}/messages/{unseen}", auth=(reg.login, reg.password))
        async with running(phone):
            await server.until_state(phone, unseen, "Cancelled")
    cancelled = json.loads(recorder.patches(scheduled)[-1])[0]
    assert cancelled["state"] == "Cancelled" and list(cancelled["states"]) == ["Pending", "Cancelled"]
    # (both pulls at start may see it still Cancelling: each is answered the same way)
    answers = [json.loads(b)[0] for b in recorder.patches(unseen)]
    assert answers and all(a["recipients"] == [{"phoneNumber": "+79990000004", "state": "Cancelled"}]
                           and list(a["states"]) == ["Cancelled"] for a in answers)
    assert [path for method, path, _ in recorder.requests if method != "GET"].count("/device") == 2  # POST, PATCH


async def test_encrypted_messages(tmp_path: Path) -> None:
    recorder = Recorder()
    passphrase = "correct horse"
    async with reference_server(tmp_path) as server, recorder:
        phone = Phone(PhoneConfig(server=server.mobile, passphrase=passphrase, radio=FAST), http=recorder.client())
        number = encrypt_text(passphrase, "+79990000005", iterations=10_000)
        async with running(phone):
            good = await server.send(phone, {"textMessage": {"text": encrypt_text(passphrase, "secret", 10_000)},
                                             "phoneNumbers": [number], "isEncrypted": True})
            bad = await server.send(phone, {"textMessage": {"text": encrypt_text("other", "secret", 10_000)},
                                            "phoneNumbers": [number], "isEncrypted": True})
            await server.until_state(phone, good, "Delivered")
            await server.until_state(phone, bad, "Failed")
    last = recorder.patches(good)[-1]
    assert number.encode() not in last  # Gson writes "=" as \u003d ...
    assert number.replace("=", "\\u003d").encode() in last  # ... of the ciphertext number it reports
    assert json.loads(last)[0]["recipients"] == [{"phoneNumber": number, "state": "Delivered"}]
    failed = json.loads(recorder.patches(bad)[-1])[0]
    assert failed["recipients"][0]["error"] == (
        "Can't send message: error:1e000065:Cipher functions:OPENSSL_internal:BAD_DECRYPT")


async def test_registration_modes_and_the_401_rule(tmp_path: Path) -> None:
    env = {"GATEWAY__MODE": "private", "GATEWAY__PRIVATE_TOKEN": "private-token-123"}
    async with reference_server(tmp_path, **env) as server:
        first = Phone(PhoneConfig(server=server.mobile, registration="private", private_token="private-token-123",
                                  sim_cards=3, radio=FAST))
        async with running(first):
            reg = first.registration
            assert reg is not None and reg.password is not None
            code = (await server.http.get(f"{server.mobile}/user/code", auth=(reg.login, reg.password))).json()
            basic = Phone(PhoneConfig(server=server.mobile, registration="basic", login=reg.login,
                                      password=reg.password, radio=FAST))
            by_code = Phone(PhoneConfig(server=server.mobile, registration="code", code=code["code"], radio=FAST))
            async with running(basic, by_code):
                for other in (basic, by_code):
                    assert other.registration is not None and other.registration.login == reg.login
                    assert other.registration.password is None  # the user existed
            devices = (await server.http.get(f"{server.base}{API}/devices", auth=(reg.login, reg.password))).json()
            assert len(devices) == 3
            mine = next(d for d in devices if d["id"] == reg.device_id)
            assert [c["phoneNumber"] for c in mine["simCards"]] == [f"********{c.phone_number[-4:]}"
                                                                      for c in first.sims]
            response = await server.http.delete(f"{server.base}{API}/devices/{reg.device_id}",
                                                auth=(reg.login, reg.password))
            assert response.status_code == 204
        async with running(first):  # PATCH /device answers 401: a new registration with the private token
            assert first.registration is not None and first.registration.device_id != reg.device_id
            assert first.registration.login != reg.login and first.registration.password


async def test_fcm_push_through_firebase_admin_to_the_phone_endpoint(tmp_path: Path) -> None:
    recorder = Recorder()
    fcm = FcmEndpoint(project_id="sim-project")
    async with trio.open_nursery() as outer:
        await outer.start(fcm.serve)
        env = {"FCM__CREDENTIALS_JSON": fcm.service_account_json(), "FCM__ENDPOINT": fcm.base_url}
        async with reference_server(tmp_path, **env) as server, recorder:
            queue = server.app.extensions["smsgate"].events.push_queue

            async def flush_often() -> None:  # the server debounces pushes >= 5 s; don't wait for it here
                while True:
                    await trio.sleep(0.2)
                    await queue.flush()

            outer.start_soon(flush_often)
            phone = Phone(PhoneConfig(server=server.mobile, push="fcm", radio=FAST, sim_cards=2,
                                      pull_interval=3600), http=recorder.client(), fcm=fcm)
            orphan = Phone(PhoneConfig(server=server.mobile, push="fcm", fcm_token="nobody-owns-this"))
            async with running(phone, orphan):
                await trio.sleep(0.5)  # the pulls at start are done: what follows comes by push
                message_id = await server.send(phone, {"textMessage": {"text": "via FCM"},
                                                       "phoneNumbers": ["+79990000006"], "simNumber": 2})
                await server.until_state(phone, message_id, "Delivered")
                later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
                scheduled = await server.send(phone, {"textMessage": {"text": "later"},
                                                      "phoneNumbers": ["+79990000007"], "scheduleAt": later})
                await until(lambda: phone.store.get(scheduled) is not None)
                reg = phone.registration
                assert reg is not None and reg.password is not None
                await server.http.delete(f"{server.base}{API}/messages/{scheduled}", auth=(reg.login, reg.password))
                await server.until_state(phone, scheduled, "Cancelled")
                await server.send(orphan, {"textMessage": {"text": "lost"}, "phoneNumbers": ["+79990000008"]})
                await until(lambda: fcm.unregistered >= 1)
            outer.cancel_scope.cancel()
    events = [m["data"]["event"] for m in fcm.messages]
    assert events.count("MessageEnqueued") >= 2 and "MessageCancelled" in events
    assert all(m["android"]["priority"] == "high" and m["token"] == phone.push_token for m in fcm.messages)
    register = next(body for method, path, body in recorder.requests if (method, path) == ("POST", "/device"))
    assert json.loads(register)["pushToken"] == phone.push_token
    assert not [path for _, path, _ in recorder.requests if path == "/events"]  # FCM phones never open SSE


async def test_signed_webhooks_over_https(tmp_path: Path) -> None:
    ca_file, cert_file, key_file = make_ca_and_leaf(tmp_path)
    received: list[tuple[dict[str, str], bytes]] = []
    async with trio.open_nursery() as outer:
        receiver_url = await outer.start(partial(https_receiver, received, cert_file, key_file))
        async with reference_server(tmp_path) as server:
            phone = Phone(PhoneConfig(server=server.mobile, radio=FAST, webhook_ca=ca_file, tz_offset_minutes=420,
                                      sim_phone_numbers=("+15550100",)))
            async with running(phone):
                reg = phone.registration
                assert reg is not None and reg.password is not None
                for event in ("sms:sent", "sms:delivered", "sms:received", "app:started"):
                    response = await server.http.post(f"{server.base}{API}/webhooks", auth=(reg.login, reg.password),
                                                      json={"url": f"{receiver_url}/{event}", "event": event})
                    assert response.status_code == 201, response.text
                await until(lambda: len(phone.webhooks.cloud) == 4)  # WebhooksUpdated came over SSE
                message_id = await server.send(phone, {"textMessage": {"text": "hooked"},
                                                       "phoneNumbers": ["+79990000009"], "simNumber": 1})
                await phone.receive_sms("+79990000010", "incoming & <escaped>")
                await until(lambda: len(received) >= 3)
            async with running(phone):  # a restart fires app:started to the hooks it knows
                await until(lambda: any(b"app:started" in body for _, body in received))
        outer.cancel_scope.cancel()
    by_event = {json.loads(body)["event"]: (headers, body) for headers, body in received}
    assert set(by_event) == {"sms:sent", "sms:delivered", "sms:received", "app:started"}
    for headers, body in received:
        expected = hmac.new(phone.signing_key.encode(), body + headers["x-timestamp"].encode(),
                            hashlib.sha256).hexdigest()
        assert headers["x-signature"] == expected
        assert headers["user-agent"] == "me.capcom.smsgateway/1.68.0"
    sent = json.loads(by_event["sms:sent"][1])
    assert list(sent) == ["id", "webhookId", "event", "deviceId", "payload"]
    assert sent["deviceId"] == phone.device_id
    assert sent["payload"] | {"sentAt": None} == {"partsCount": 1, "sentAt": None, "messageId": message_id,
                                                  "sender": "+15550100", "recipient": "+79990000009",
                                                  "simNumber": 1, "phoneNumber": "+79990000009"}
    assert PLUS7.match(sent["payload"]["sentAt"])
    incoming = by_event["sms:received"][1]
    assert b'"message":"incoming \\u0026 \\u003cescaped\\u003e"' in incoming
    assert json.loads(by_event["app:started"][1])["payload"]["simCards"][0]["phoneNumber"] == "+15550100"


async def https_receiver(received: list[tuple[dict[str, str], bytes]], cert_file: Path, key_file: Path, *,
                         task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    from hypercorn.config import Config
    from hypercorn.trio import serve

    async def app(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                  send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        received.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.certfile, config.keyfile = str(cert_file), str(key_file)
    config.accesslog = None
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, config, mode="asgi"))  # type: ignore[arg-type]
        task_status.started(str(binds[0]))
