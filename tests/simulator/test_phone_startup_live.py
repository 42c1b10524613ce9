"""The app's start-up, its 24-hour refresh jobs and the settings only a phone holds (passphrase, signing key,
gateway keys), each against the reference server over real HTTP.

At a start the app enqueues the PATCH /device, pull, webhooks and settings jobs together and WorkManager
runs them side by side; on a first anonymous start they run before the registration exists and fetch
nothing. The server takes `encryption.passphrase`, `webhooks.signing_key`, `gateway.cloud_url` and
`gateway.private_token` only empty (upstream's `isdefault` rule); it stores and delivers the first two
(empty or null) and drops the gateway pair, as upstream does."""

from __future__ import annotations

import hashlib
import hmac
import json
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from phone_certs import make_ca_and_leaf
from test_phone_live import API, FAST, https_receiver, reference_server, running, until

from simulator.phone import Phone, PhoneConfig, encrypt_text
from simulator.phone.refresh import DAILY

pytestmark = pytest.mark.slow

START_JOBS = {("PATCH", "/device"), ("GET", "/message"), ("GET", "/webhooks"), ("GET", "/settings")}


class Watch(httpx.AsyncBaseTransport):
    """Real HTTP that logs each mobile request. Armed with a set of requests, it holds each of them until all
    have been sent (so they meet only if the phone sends them side by side); `fail` answers the first
    requests of the named kind with a connection error."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.log: list[tuple[str, str]] = []
        self.bodies: list[tuple[tuple[str, str], bytes]] = []
        self.barrier: set[tuple[str, str]] = set()
        self.arrived: set[tuple[str, str]] = set()
        self.met = trio.Event()
        self.fail: dict[tuple[str, str], int] = {}

    def arm(self, requests: set[tuple[str, str]]) -> None:
        self.barrier, self.arrived, self.met = set(requests), set(), trio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = (request.method, request.url.path.removeprefix("/api/mobile/v1"))
        self.log.append(key)
        self.bodies.append((key, request.content))
        if self.fail.get(key):
            self.fail[key] -= 1
            raise httpx.ConnectError("refused (test)", request=request)
        if key in self.barrier and key not in self.arrived:
            self.arrived.add(key)
            if self.arrived == self.barrier:
                self.met.set()
            with trio.move_on_after(5):  # a phone that sends them one after another never fills the barrier
                await self.met.wait()
        return await self.inner.handle_async_request(request)

    def count(self, method: str, path: str) -> int:
        return self.log.count((method, path))

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_start_up_jobs_run_side_by_side_and_the_first_start_fetches_nothing(tmp_path: Path) -> None:
    watch = Watch()
    async with reference_server(tmp_path) as server, httpx.AsyncClient(transport=watch, timeout=30) as http:
        phone = Phone(PhoneConfig(server=server.mobile, radio=FAST), http=http)
        async with running(phone):
            await until(lambda: ("GET", "/message") in watch.log)
            reg = phone.registration
            assert reg is not None and reg.password is not None
            auth = (reg.login, reg.password)
            # a first anonymous start: the jobs ran before the registration existed and fetched nothing;
            # the SSE connection pulls
            assert ("GET", "/webhooks") not in watch.log and ("GET", "/settings") not in watch.log
            assert watch.log.index(("GET", "/events")) < watch.log.index(("GET", "/message"))
            assert phone.refresher.due["webhooks"] > trio.current_time() + DAILY - 60
            # the account's webhooks and settings reach the phone through their events
            created = await server.http.post(f"{server.base}{API}/webhooks", auth=auth,
                                             json={"url": "https://example.com/hook", "event": "sms:delivered"})
            assert created.status_code == 201, created.text
            changed = await server.http.patch(f"{server.base}{API}/settings", auth=auth,
                                              json={"messages": {"limit_period": "PerHour", "limit_value": 7}})
            assert changed.status_code == 200, changed.text
            await until(lambda: bool(phone.webhooks.cloud) and phone.settings.limit_value == 7)
        phone.webhooks.cloud, phone.settings.limit_value = [], None
        watch.arm(START_JOBS)
        async with running(phone):  # a restart: PATCH /device and the three GETs, all in flight at once
            assert watch.met.is_set(), f"sent one after another: {watch.arrived}"
            assert [h.url for h in phone.webhooks.cloud] == ["https://example.com/hook"]
            assert phone.settings.limit_value == 7
            assert phone.refresher.due["settings"] > trio.current_time() + DAILY - 60  # next in 24 h


async def test_a_failed_refresh_is_retried_and_an_event_replaces_it(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("simulator.phone.refresh.BACKOFF", 0.2)  # WorkManager's 10 s, shortened
    watch = Watch()
    async with reference_server(tmp_path) as server, httpx.AsyncClient(transport=watch, timeout=30) as http:
        phone = Phone(PhoneConfig(server=server.mobile, radio=FAST), http=http)
        async with running(phone):
            pass
        reg = phone.registration
        assert reg is not None and reg.password is not None
        changed = await server.http.patch(f"{server.base}{API}/settings", auth=(reg.login, reg.password),
                                          json={"ping": {"interval_seconds": 600}})
        assert changed.status_code == 200, changed.text
        watch.fail[("GET", "/settings")] = 2
        async with running(phone):
            # the start-up's GET failed; how many retries ran by now depends on the machine's speed, not the phone
            await until(lambda: phone.settings.ping_interval == 600)  # retried: 0.2 s, then 0.4 s
            assert watch.count("GET", "/settings") == 3 and phone.refresher.failures["settings"] == 0
            assert phone.refresher.due["settings"] > trio.current_time() + DAILY - 60
            # SettingsUpdated replaces the job: it runs at once, whatever its schedule
            changed = await server.http.patch(f"{server.base}{API}/settings", auth=(reg.login, reg.password),
                                              json={"ping": {"interval_seconds": 900}})
            assert changed.status_code == 200, changed.text
            await until(lambda: phone.settings.ping_interval == 900)
            assert watch.count("GET", "/settings") == 4


async def test_secrets_the_server_delivers_are_applied_as_the_app_applies_them(tmp_path: Path) -> None:
    ca_file, cert_file, key_file = make_ca_and_leaf(tmp_path)
    received: list[tuple[dict[str, str], bytes]] = []
    passphrase = "correct horse"
    number = encrypt_text(passphrase, "+79990000021", iterations=10_000)
    watch = Watch()
    async with trio.open_nursery() as outer, httpx.AsyncClient(transport=watch, timeout=30) as http:
        receiver_url = await outer.start(partial(https_receiver, received, cert_file, key_file))
        async with reference_server(tmp_path) as server:
            phone = Phone(PhoneConfig(server=server.mobile, radio=FAST, passphrase=passphrase, webhook_ca=ca_file,
                                      signing_key="first-key", push="fcm"), http=http)
            async with running(phone):
                reg = phone.registration
                assert reg is not None and reg.password is not None
                auth = (reg.login, reg.password)

                async def patch(body: dict[str, Any]) -> httpx.Response:
                    return await server.http.patch(f"{server.base}{API}/settings", auth=auth, json=body)

                async def encrypted_send() -> dict[str, Any]:
                    text = encrypt_text(passphrase, "s", 10_000)
                    message_id = await server.send(phone, {"textMessage": {"text": text}, "phoneNumbers": [number],
                                                           "isEncrypted": True})
                    await phone.refresher.start("settings")  # FCM without an endpoint here: no push arrives
                    phone.puller.trigger()
                    return await server.until_state(phone, message_id, "Failed")

                async def hooked() -> tuple[dict[str, str], bytes]:
                    before = len(received)
                    await phone.receive_sms("+79990000022", "ping")
                    await until(lambda: len(received) > before)
                    return received[-1]

                hook = await server.http.post(f"{server.base}{API}/webhooks", auth=auth,
                                              json={"url": f"{receiver_url}/in", "event": "sms:received"})
                assert hook.status_code == 201, hook.text
                assert await phone.refresh_webhooks()
                # a secret with a value: the server refuses it, as upstream (`isdefault`); so is a bad enum
                # value, which is why the phone's own rejection of one is checked against fakes only
                for body in ({"encryption": {"passphrase": "x"}}, {"webhooks": {"signing_key": "k"}},
                             {"gateway": {"cloud_url": "https://elsewhere.example/mobile/v1"}},
                             {"gateway": {"private_token": "t"}}, {"messages": {"limit_period": "Weekly"}}):
                    refused = await patch(body)
                    assert refused.status_code == 400, (body, refused.text)
                # empty values are stored and delivered (the gateway pair is dropped): the app takes them as they are
                taken = await patch({"encryption": {"passphrase": ""}, "webhooks": {"signing_key": ""},
                                     "gateway": {"cloud_url": "", "private_token": "",
                                                 "notification_channel": "SSE_ONLY"}})
                assert taken.status_code == 200, taken.text
                assert taken.json()["encryption"] == {} and "signing_key" not in taken.json()["webhooks"]
                failed = await encrypted_send()
                assert (phone.settings.passphrase, phone.signing_key) == ("", "")
                assert failed["recipients"][0]["error"] == (
                    "Can't send message: error:1e000065:Cipher functions:OPENSSL_internal:BAD_DECRYPT")
                assert phone.settings.cloud == {"notification_channel": "SSE_ONLY"}  # no cloud_url, no token
                headers, body = await hooked()
                assert headers["x-signature"] == hmac.new(b"", body + headers["x-timestamp"].encode(),
                                                          hashlib.sha256).hexdigest()
                # null: no passphrase at all; the signing key is made anew (8 random characters)
                assert (await patch({"encryption": {"passphrase": None}, "webhooks": {"signing_key": None}})
                        ).status_code == 200
                failed = await encrypted_send()
                assert phone.settings.passphrase is None
                assert failed["recipients"][0]["error"] == "Can't send message: Passphrase is not set"
                assert len(phone.signing_key) == 8 and phone.signing_key not in ("", "first-key")
                headers, body = await hooked()
                assert headers["x-signature"] == hmac.new(phone.signing_key.encode(), body
                                                          + headers["x-timestamp"].encode(), hashlib.sha256).hexdigest()
            assert ("GET", "/events") not in watch.log  # FCM so far
            async with running(phone):  # the next start applies notification_channel: SSE, no push token
                await until(lambda: ("GET", "/events") in watch.log)
        outer.cancel_scope.cancel()
    last_patch = json.loads([body for key, body in watch.bodies if key == ("PATCH", "/device")][-1])
    assert "pushToken" not in last_patch and last_patch["id"] == phone.device_id
