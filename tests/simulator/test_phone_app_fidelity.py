"""Where the simulated phone used to differ from the app (v1.68.0), each checked against the reference
server over real HTTP: joining an account, pull triggers that replace one another, the first ping,
concurrent state reports, the SSE request's Accept header, the MMS and cancel webhooks, the inbox
export, Sent per part and the reports after a Failed."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from phone_certs import make_ca_and_leaf
from test_phone_live import API, FAST, Recorder, https_receiver, reference_server, running, until

from simulator.phone import Phone, PhoneConfig

pytestmark = pytest.mark.slow


class Delayed(httpx.AsyncBaseTransport):
    """Real HTTP, with requests matching (method, path suffix) held back `delay` s; counts the overlap."""

    def __init__(self, method: str, suffix: str, delay: float) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.method, self.suffix, self.delay = method, suffix, delay
        self.outstanding = self.peak = 0
        self.seen: list[tuple[float, str, str, dict[str, str]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((trio.current_time(), request.method, request.url.path, dict(request.headers)))
        if (request.method, request.url.path.endswith(self.suffix)) != (self.method, True):
            return await self.inner.handle_async_request(request)
        self.outstanding += 1
        self.peak = max(self.peak, self.outstanding)
        try:
            await trio.sleep(self.delay)
            return await self.inner.handle_async_request(request)
        finally:
            self.outstanding -= 1

    def times(self, method: str, suffix: str) -> list[float]:
        return [at for at, m, path, _ in self.seen if m == method and path.endswith(suffix)]

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_joining_an_account_sends_the_push_token_with_a_patch_as_a_rotated_one(tmp_path: Path) -> None:
    recorder = Recorder()
    async with reference_server(tmp_path) as server, recorder:
        owner = Phone(PhoneConfig(server=server.mobile, radio=FAST))
        async with running(owner):
            reg = owner.registration
            assert reg is not None and reg.password is not None
            joiner = Phone(PhoneConfig(server=server.mobile, registration="basic", login=reg.login,
                                       password=reg.password, push="fcm", fcm_token="token-1", radio=FAST),
                           http=recorder.client())
            async with running(joiner):
                await joiner.rotate_push_token("token-2")
                devices = (await server.http.get(f"{server.base}{API}/devices", auth=(reg.login, reg.password)))
                assert len(devices.json()) == 2
    device = [(method, json.loads(body)) for method, path, body in recorder.requests if path == "/device"]
    assert [method for method, _ in device] == ["POST", "PATCH", "PATCH"]
    assert "pushToken" not in device[0][1]  # signing in: no push token ...
    assert device[1][1]["pushToken"] == "token-1"  # ... it follows at once with PATCH /device
    assert device[2][1] == {"id": joiner.device_id, "pushToken": "token-2",
                            "simCards": [card.view(redacted=True) for card in joiner.sims]}


async def test_pull_triggers_replace_the_pull_in_flight_and_reset_the_timer(tmp_path: Path) -> None:
    delayed = Delayed("GET", "/message", delay=0.4)
    async with reference_server(tmp_path) as server:
        http = httpx.AsyncClient(transport=delayed, timeout=30)
        phone = Phone(PhoneConfig(server=server.mobile, radio=FAST, pull_interval=1.5), http=http)
        async with running(phone):
            await until(lambda: phone.puller.pulls >= 1 and phone.sse is not None and phone.sse.opens == 1)
            await until(lambda: delayed.outstanding == 0)
            aborted, pulls = phone.puller.aborted, phone.puller.pulls
            phone.puller.trigger()
            await trio.sleep(0.1)
            phone.puller.trigger()  # while the first pull's GET is still held back: it is abandoned
            await until(lambda: phone.puller.pulls == pulls + 1)
            assert phone.puller.aborted == aborted + 1
            triggered = delayed.times("GET", "/message")[-1]
            # The timer restarted at the trigger: the next periodic GET comes 1.5 s (+ the 0.4 s GET) later.
            await trio.sleep(triggered + 1.2 - trio.current_time())
            assert delayed.times("GET", "/message")[-1] == triggered
            await until(lambda: delayed.times("GET", "/message")[-1] > triggered, within=10)
            following = delayed.times("GET", "/message")[-1]
        await http.aclose()
    assert following - triggered == pytest.approx(1.9, abs=0.3)


async def test_state_reports_run_concurrently_and_sse_asks_for_an_event_stream(tmp_path: Path) -> None:
    delayed = Delayed("PATCH", "/message", delay=0.5)
    async with reference_server(tmp_path) as server:
        http = httpx.AsyncClient(transport=delayed, timeout=30)
        phone = Phone(PhoneConfig(server=server.mobile, radio=FAST), http=http)
        async with running(phone):
            message_id = await server.send(phone, {"textMessage": {"text": "x"}, "phoneNumbers": ["+79990000021"]})
            final = await server.until_state(phone, message_id, "Delivered", within=20)
        await http.aclose()
    assert delayed.peak >= 2  # Processed, Sent and Delivered reports overlapped: the app's jobs do
    assert set(final["states"]) >= {"Pending", "Sent", "Delivered"}
    [sse] = [headers for _, method, path, headers in delayed.seen if path.endswith("/events")]
    assert sse["accept"] == "text/event-stream" and sse["user-agent"] == "okhttp/4.10.0"


async def test_first_ping_at_once_and_the_mms_and_cancel_webhooks(tmp_path: Path) -> None:
    ca_file, cert_file, key_file = make_ca_and_leaf(tmp_path)
    received: list[tuple[dict[str, str], bytes]] = []

    def events(name: str) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in received if json.loads(body)["event"] == name]

    async with trio.open_nursery() as outer:
        receiver_url = await outer.start(partial(https_receiver, received, cert_file, key_file))
        async with reference_server(tmp_path) as server:
            phone = Phone(PhoneConfig(server=server.mobile, radio=FAST, webhook_ca=ca_file, ping_interval=3600,
                                      sim_phone_numbers=("+15550100",)))
            async with running(phone):
                reg = phone.registration
                assert reg is not None and reg.password is not None
                for event in ("system:ping", "mms:received", "mms:downloaded", "sms:cancelled", "sms:received"):
                    response = await server.http.post(f"{server.base}{API}/webhooks", auth=(reg.login, reg.password),
                                                      json={"url": f"{receiver_url}/{event}", "event": event})
                    assert response.status_code == 201, response.text
                await until(lambda: len(phone.webhooks.cloud) == 5)
                await phone.receive_sms("+15550198", "one")
                off = phone.sms_while_off("+15550198", "two")  # arrived while the app was not running
                window = {"since": "2000-01-01T00:00:00Z", "until": "2099-01-01T00:00:00Z"}
                for _ in range(2):  # the export processes "two"; the second finds nothing new
                    response = await server.http.post(f"{server.base}{API}/messages/inbox/export",
                                                      auth=(reg.login, reg.password), json=window)
                    assert response.status_code == 202, response.text
                    await until(lambda: len(events("sms:received")) == 2)
                mms_id = phone.receive_mms("+15550199", subject="Hi", size=2048, body="see attached",
                                           attachments=[{"partId": 1, "contentType": "image/png", "name": "a.png",
                                                         "size": 3, "data": "AAEC"}])
                later = "2099-01-01T00:00:00Z"
                scheduled = await server.send(phone, {"textMessage": {"text": "later"}, "scheduleAt": later,
                                                      "phoneNumbers": ["+79990000022"]})
                await until(lambda: phone.store.get(scheduled) is not None)
                response = await server.http.delete(f"{server.base}{API}/messages/{scheduled}",
                                                    auth=(reg.login, reg.password))
                assert response.status_code == 200, response.text
                await server.until_state(phone, scheduled, "Cancelled")
                await until(lambda: bool(events("sms:cancelled")) and bool(events("mms:downloaded")))
            pings_before = len(events("system:ping"))
            async with running(phone):  # a restart: the ping goes out at once, not after an hour
                await until(lambda: len(events("system:ping")) > pings_before)
        outer.cancel_scope.cancel()
    health = events("system:ping")[-1]["payload"]["health"]
    assert list(health) == ["version", "releaseId", "status", "checks"] and health["releaseId"] == 16800
    [mms] = events("mms:received")
    assert list(mms["payload"]) == ["transactionId", "subject", "size", "receivedAt", "messageId", "sender",
                                    "recipient", "simNumber", "phoneNumber"]
    assert mms["payload"]["messageId"] == mms_id and mms["payload"]["size"] == 2048
    assert mms["payload"]["recipient"] == "+15550100" and mms["payload"]["sender"] == "+15550199"
    [downloaded] = events("mms:downloaded")
    assert downloaded["payload"]["attachments"][0]["contentType"] == "image/png"
    assert downloaded["payload"]["body"] == "see attached"
    assert [e["payload"]["message"] for e in events("sms:received")] == ["one", "two"]
    assert events("sms:received")[1]["payload"]["messageId"] == off.message_id
    [cancelled] = events("sms:cancelled")
    assert cancelled["payload"]["messageId"] == scheduled


async def test_multipart_sent_per_part_and_updates_after_failed_still_reported(tmp_path: Path) -> None:
    ca_file, cert_file, key_file = make_ca_and_leaf(tmp_path)
    received: list[tuple[dict[str, str], bytes]] = []
    recorder = Recorder()
    async with trio.open_nursery() as outer:
        receiver_url = await outer.start(partial(https_receiver, received, cert_file, key_file))
        async with reference_server(tmp_path) as server, recorder:
            phone = Phone(PhoneConfig(server=server.mobile, radio=FAST, webhook_ca=ca_file), http=recorder.client())
            async with running(phone):
                reg = phone.registration
                assert reg is not None and reg.password is not None
                response = await server.http.post(f"{server.base}{API}/webhooks", auth=(reg.login, reg.password),
                                                  json={"url": f"{receiver_url}/sent", "event": "sms:sent"})
                assert response.status_code == 201, response.text
                await until(lambda: len(phone.webhooks.cloud) == 1)
                long_id = await server.send(phone, {"textMessage": {"text": "y" * 200},
                                                    "phoneNumbers": ["+79990000031"]})
                await server.until_state(phone, long_id, "Delivered")
                # not encrypted, so the phone cannot decrypt it: Failed
                bad = await server.send(phone, {"textMessage": {"text": "plain"}, "phoneNumbers": ["+79990000032"],
                                                "isEncrypted": True})
                await server.until_state(phone, bad, "Failed")
                reports = len(recorder.patches(bad))
                local = phone.store.get(bad)
                assert local is not None
                phone.update_state(local, "+79990000032", "Delivered", None)  # a late delivery report
                await until(lambda: len(recorder.patches(bad)) == reports + 1)
                assert (await server.state(phone, bad))["state"] == "Failed"  # the server copes
                await until(lambda: len(received) >= 2)
        outer.cancel_scope.cancel()
    sent = [json.loads(body)["payload"] for _, body in received]
    assert len(sent) == 2 and all(p["messageId"] == long_id and p["partsCount"] == 2 for p in sent)  # one a part
    late = json.loads(recorder.patches(bad)[-1])[0]
    assert late["state"] == "Failed" and late["recipients"][0]["state"] == "Failed"


async def test_settings_from_the_server_applied_as_the_app_applies_them(tmp_path: Path) -> None:
    async with reference_server(tmp_path) as server:
        phone = Phone(PhoneConfig(server=server.mobile, radio=FAST, send_interval_min=2, ping_interval=60))
        async with running(phone):
            reg = phone.registration
            assert reg is not None and reg.password is not None
            auth = (reg.login, reg.password)

            async def settings(body: dict[str, Any]) -> bool:
                response = await server.http.patch(f"{server.base}{API}/settings", auth=auth, json=body)
                assert response.status_code == 200, response.text
                return await phone.refresh_settings()

            assert await settings({"messages": {"send_interval_max": 30.0, "limit_period": "PerHour",
                                                "limit_value": 10},
                                   "ping": {"interval_seconds": 90.0}})
            s = phone.settings
            assert (s.send_interval_min, s.send_interval_max, s.limit_period, s.limit_value) == (2, 30, "PerHour", 10)
            assert s.ping_interval == 90
            # null resets a key to the app's default
            assert await settings({"messages": {"limit_period": None}, "ping": {"interval_seconds": None}})
            assert (s.limit_period, s.limit_value, s.ping_interval) == ("Disabled", 10, None)
    assert s.send_interval_max == 30
