"""The phone against an in-memory mobile API (MockClock): registration modes and the 401 rule, the
pull rules, SIM selection, the radio's parts and error strings, and webhook payloads and signing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import trio
from phone_fake_server import BASE, FakeServer, Seen, message

from simulator.phone import Phone, PhoneConfig, RadioConfig, Registration
from simulator.phone.webhooks import java_hash

RADIO = RadioConfig(sent_latency=(0.5, 0.5), delivered_latency=(2.0, 2.0), seed=3)
LOCAL_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+05:30$")


@asynccontextmanager
async def running(server: FakeServer, phone: Phone | None = None, fresh: bool = False,
                  **config: Any) -> AsyncIterator[Phone]:
    """A phone that registered on an earlier start (so it PATCHes /device and fetches the account's webhooks
    and settings at once, as the app does), or a `fresh` one that registers now (and fetches none of them)."""
    config.setdefault("radio", RADIO)
    phone = phone or Phone(PhoneConfig(server=BASE, **config), http=server.client())
    if not fresh and phone.registration is None:
        phone.registration = Registration("device-1", "token-1", "LOGIN1", "password-1")
    async with trio.open_nursery() as nursery:
        await nursery.start(phone.run)
        yield phone
        nursery.cancel_scope.cancel()


def hook(event: str, name: str | None = None) -> dict[str, Any]:
    return {"id": f"hook-{name or event}", "deviceId": None, "url": f"https://hooks.test/{name or event}",
            "event": event}


def webhook_bodies(server: FakeServer, name: str) -> list[dict[str, Any]]:
    return [s.json() for s in server.calls("POST", f"/{name}")]


@pytest.mark.parametrize(("mode", "extra", "authorization"), [
    ("anonymous", {}, None),
    ("private", {"private_token": "pt-123"}, "Bearer pt-123"),
    ("basic", {"login": "ABCDEF", "password": "secret"}, "Basic " + base64.b64encode(b"ABCDEF:secret").decode()),
    ("code", {"code": "a2b3c4"}, "Code a2b3c4"),
])
async def test_registration_modes(autojump_clock: Any, mode: str, extra: dict[str, Any],
                                  authorization: str | None) -> None:
    server = FakeServer()
    async with running(server, fresh=True, registration=mode, sim_cards=2,
                       sim_phone_numbers=("+15551230001", "4477"), **extra) as phone:
        assert phone.registration == Registration("device-1", "token-1", "LOGIN1", "password-1")
        await trio.sleep(1)  # the SSE connection opens and pulls
    [seen] = server.calls("POST", "/device")
    assert seen.headers.get("authorization") == authorization
    assert seen.headers["user-agent"] == "me.capcom.smsgateway/1.68.0"
    assert seen.body.decode() == (
        '{"name":"samsung/beyond0ltexx","simCards":['
        '{"slotIndex":0,"simNumber":1,"phoneNumber":"********0001","carrierName":"****bile","iccid":"'
        + "*" * 15 + phone.sims[0].iccid[-4:] + '"},'
        '{"slotIndex":1,"simNumber":2,"phoneNumber":"****","carrierName":"****fone","iccid":"'
        + "*" * 15 + phone.sims[1].iccid[-4:] + '"}]}')
    later = [s for s in server.seen if s.path != "/device"]
    assert {s.headers["authorization"] for s in later if s.path != "/events"} == {"Bearer token-1"}


async def test_restart_patches_the_device_and_re_registers_anonymously_on_401(autojump_clock: Any) -> None:
    server = FakeServer()
    phone = Phone(PhoneConfig(server=BASE, registration="basic", login="L", password="P", private_token="pt",
                              push="fcm", fcm_token="fcm-token-1"), http=server.client())
    async with running(server, phone, fresh=True):
        pass
    [join] = server.calls("POST", "/device")
    assert "pushToken" not in join.json()  # signing in to an account: no push token, it comes with a PATCH
    async with running(server, phone):  # a restart: the stored token is PATCHed, not re-registered
        pass
    assert len(server.calls("POST", "/device")) == 1
    for patch in server.calls("PATCH", "/device"):  # after signing in, and at the restart
        assert patch.headers["authorization"] == "Bearer token-1"
        assert patch.json() == {"id": "device-1", "pushToken": "fcm-token-1",
                                "simCards": [phone.sims[0].view(redacted=True)]}
    assert len(server.calls("PATCH", "/device")) == 2
    server.patch_device_status = 401  # the server forgot the device
    async with running(server, phone):
        assert phone.registration == Registration("device-2", "token-2", "LOGIN2", "password-2")
    again = server.calls("POST", "/device")[-1]
    assert again.headers["authorization"] == "Bearer pt"  # anonymous mode on a private server, not Basic
    assert again.json()["pushToken"] == "fcm-token-1"


async def test_known_ids_are_re_reported_and_cancelling_is_answered(autojump_clock: Any) -> None:
    server = FakeServer(pending=[message("m1", withDeliveryReport=False)])
    async with running(server, tz_offset_minutes=330) as phone:
        await trio.sleep(10)
        patches = len(server.patches())
        server.pending = [message("m1"), message("gone", "+1", "+2", state="Cancelling"),
                          dict(message("m1"), state="Cancelling")]
        server.event("MessageEnqueued")
        await trio.sleep(1)
        items = server.patches()[patches:]
        assert [(i["id"], i["state"]) for i in items] == [("m1", "Sent"), ("gone", "Cancelled")]
        assert items[0]["recipients"] == [{"phoneNumber": "+15550001", "state": "Sent"}]
        assert list(items[0]["states"]) == ["Pending", "Processed", "Sent"]
        assert all(LOCAL_TIME.match(t) for t in items[0]["states"].values())
        assert items[1]["recipients"] == [{"phoneNumber": "+1", "state": "Cancelled"},
                                          {"phoneNumber": "+2", "state": "Cancelled"}]
        assert phone.store.get("m1").state == "Sent"  # type: ignore[union-attr]  # no second enqueue


async def test_sim_selection_and_sim_errors(autojump_clock: Any) -> None:
    server = FakeServer(hooks=[hook("sms:sent"), hook("sms:failed")], pending=[
        message("rr-1"), message("rr-2"), message("rr-3"), message("sim-9", simNumber=3)])
    async with running(server, sim_cards=2, sim_selection_mode="RoundRobin", processing_order="fifo",
                       sim_phone_numbers=("+1000", "+2000")):
        await trio.sleep(10)
    sent = {b["payload"]["messageId"]: b["payload"] for b in webhook_bodies(server, "sms:sent")}
    # RoundRobin: local row id mod the number of active slots (rows 1, 2, 3)
    assert [(sent[i]["simNumber"], sent[i]["sender"]) for i in ("rr-1", "rr-2", "rr-3")] == [
        (2, "+2000"), (1, "+1000"), (2, "+2000")]
    [failed] = webhook_bodies(server, "sms:failed")
    assert failed["payload"]["reason"] == "Can't send message: SIM 3 not found"
    server = FakeServer(pending=[message("none")])
    async with running(server, sim_cards=0):
        await trio.sleep(1)
    assert server.patches()[-1]["recipients"][0]["error"] == "Can't send message: No SIMs found"


async def test_multipart_delivery_reports_per_part_and_exact_webhook_payloads(autojump_clock: Any) -> None:
    server = FakeServer(hooks=[hook("sms:sent"), hook("sms:delivered")],
                        pending=[message("long", "+15550001", "+15550002", text="x" * 200)])
    async with running(server, tz_offset_minutes=330, signing_key="k3y", sim_phone_numbers=("+19990000",),
                       local_webhooks=(("sms:sent", "https://hooks.test/local"),)) as phone:
        await trio.sleep(10)
    states = [i["state"] for i in server.patches()]
    # one report per update: Processed per recipient, Sent and Delivered per part (2 parts x 2), each
    # reading the message as it is when it runs; the second pull at start (SSE connect) may also
    # re-report the known message
    assert 10 <= len(states) <= 11 and states[-1] == "Delivered"
    sent = server.calls("POST", "/sms:sent")
    assert len(sent) == 4 and len(server.calls("POST", "/sms:delivered")) == 4
    body = sent[0].body.decode()
    assert re.fullmatch(
        r'\{"id":"[\w-]{21}","webhookId":"hook-sms:sent","event":"sms:sent","deviceId":"device-1","payload":'
        r'\{"partsCount":2,"sentAt":"[^"]+\+05:30","messageId":"long",'  # OSDefault: no simNumber, no sender
        r'"recipient":"\+1555000(\d)","phoneNumber":"\+1555000\1"\}\}', body), body
    check_signature(sent[0], "k3y")
    local, *others = server.calls("POST", "/local")  # a Local hook gets cloud messages' events too
    assert len(others) == 3
    assert local.json()["deviceId"] == phone.local_device_id and len(phone.local_device_id) == 32


def check_signature(seen: Seen, key: str) -> None:
    timestamp = seen.headers["x-timestamp"]
    assert timestamp.isdigit()
    expected = hmac.new(key.encode(), seen.body + timestamp.encode(), hashlib.sha256).hexdigest()
    assert seen.headers["x-signature"] == expected
    assert seen.headers["content-type"] == "application/json"


async def test_radio_failures_carry_the_apps_error_strings(autojump_clock: Any) -> None:
    server = FakeServer(hooks=[hook("sms:failed")], pending=[message("m1", "+1", "+2")])
    async with running(server, radio=RadioConfig(send_failure_rate=1.0, send_errors=("RESULT_ERROR_NO_SERVICE",))):
        await trio.sleep(5)
    last = server.patches()[-1]
    error = "Send result: RESULT_ERROR_NO_SERVICE (Failed because service is currently unavailable)"
    assert last["state"] == "Failed" and {r["error"] for r in last["recipients"]} == {error}
    assert [b["payload"]["reason"] for b in webhook_bodies(server, "sms:failed")] == [error, error]
    server = FakeServer(pending=[message("m2", "+1", "+2")])
    async with running(server, radio=RadioConfig(sent_latency=(0, 0), delivered_latency=(1, 1),
                                                 delivery_failure_rate=1.0)):
        await trio.sleep(5)
    last = server.patches()[-1]
    assert last["state"] == "Failed"
    assert last["recipients"][0]["error"] == "Delivery result from SC +12063130004: 65"


async def test_data_messages(autojump_clock: Any) -> None:
    good = message("d1", dataMessage={"data": base64.b64encode(b"\x01\x02").decode(), "port": 53739})
    bad = message("d2", dataMessage={"data": "not base64!", "port": 1000})
    for m in (good, bad):
        del m["textMessage"], m["message"]
    server = FakeServer(hooks=[hook("sms:sent")], pending=[good, bad])
    async with running(server, processing_order="fifo"):
        await trio.sleep(5)
    by_id = {i["id"]: i for i in server.patches()}
    assert by_id["d1"]["state"] == "Delivered"
    assert [b["payload"]["partsCount"] for b in webhook_bodies(server, "sms:sent")] == [1]
    assert by_id["d2"]["recipients"][0]["error"] == "Can't send message: Invalid Base64 data for message d2"


async def test_incoming_sms_ping_and_app_started(autojump_clock: Any) -> None:
    server = FakeServer(hooks=[hook("sms:received"), hook("system:ping"), hook("app:started")],
                        settings={"ping": {"interval_seconds": 30}})
    async with running(server, sim_phone_numbers=("+15557654321",), incoming_sms_per_minute=6.0, seed=7) as phone:
        await phone.receive_sms("+15550009", "Hi = <there>")
        await trio.sleep(61)
    [started] = webhook_bodies(server, "app:started")
    assert started["payload"] == {"simCards": [phone.sims[0].view(redacted=False)]}
    assert started["payload"]["simCards"][0]["phoneNumber"] == "+15557654321"
    received = server.calls("POST", "/sms:received")
    assert len(received) > 2  # the one on demand plus generated ones (6 a minute)
    first = received[0].body.decode()
    assert '"message":"Hi \\u003d \\u003cthere\\u003e"' in first
    payload = json.loads(first)["payload"]
    assert list(payload) == ["message", "receivedAt", "messageId", "sender", "recipient", "simNumber",
                             "phoneNumber"]
    assert payload["sender"] == payload["phoneNumber"] == "+15550009"
    assert payload["recipient"] == "+15557654321" and payload["simNumber"] == 1
    pings = webhook_bodies(server, "system:ping")
    assert len(pings) == 3  # the first at once, then at 30 and 60 s
    health = pings[0]["payload"]["health"]
    assert health["status"] == "pass" and health["version"] == "1.68.0"
    assert list(health["checks"]["battery:level"]) == ["status", "observedValue", "observedUnit", "description"]


async def test_inbox_export_processes_only_what_the_app_has_not(autojump_clock: Any) -> None:
    server = FakeServer(hooks=[hook("sms:received"), hook("sms:data-received")])
    async with running(server) as phone:
        await phone.receive_sms("+15550001", "one")
        await trio.sleep(1)
        phone.sms_while_off("+15550002", "two")  # in the inbox, never processed
        await phone.receive_data_sms("+15550003", b"\x01\xff")
        await trio.sleep(1)
        since = datetime.fromtimestamp(phone.inbox[0].date_ms / 1000 - 1, UTC).isoformat()
        until = datetime.fromtimestamp(phone.inbox[-1].date_ms / 1000 + 10, UTC).isoformat()
        for request in ({"messageTypes": "DATA_SMS"}, {}, {"messageTypes": "SMS,DATA_SMS"}):
            server.event("MessagesExportRequested", json.dumps({"since": since, "until": until, **request}))
            await trio.sleep(1)
    bodies = webhook_bodies(server, "sms:received")
    # live "one"; the export of SMS (the default) processed "two" once; nothing again
    assert [b["payload"]["message"] for b in bodies] == ["one", "two"]
    [data] = webhook_bodies(server, "sms:data-received")
    entry = phone.inbox[-1]
    # InboxMessage.Data.hashCode(): ((h(address) * 31 + h(date)) * 31 + subscriptionId) * 31 + contentHashCode,
    # where Arrays.hashCode([1, -1]) = (31 * 1 + 1) * 31 - 1 = 991 and Date.hashCode() = (int)(ms ^ ms >>> 32)
    date_hash = (entry.date_ms ^ (entry.date_ms >> 32)) & 0xFFFFFFFF
    expected = ((java_hash("+15550003") * 31 + date_hash) * 31 + 1) * 31 + 991
    assert data["payload"]["messageId"] == f"{expected & 0xFFFFFFFF:x}"  # the same for the same SMS, every time
