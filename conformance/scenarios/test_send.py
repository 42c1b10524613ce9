"""send: POST /3rdparty/v1/messages stores text and data messages as Pending for a device, which fetches them
with GET /mobile/v1/message (contract §2.2.2, §2.3)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import pytest

from conformance.harness import PHONE, Suite, describe, expect

pytestmark = pytest.mark.capability("send")


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_pending(state: dict[str, Any], device_id: str, numbers: list[str]) -> None:
    assert state.get("deviceId") == device_id, f"deviceId: {state}"
    assert state.get("state") == "Pending", f"state: {state}"
    assert state.get("isEncrypted") is False and state.get("isHashed") is False, f"flags: {state}"
    assert [r.get("phoneNumber") for r in state.get("recipients", [])] == numbers, f"recipients: {state}"
    assert all(r.get("state") == "Pending" for r in state["recipients"]), f"recipient states: {state}"
    assert "Pending" in state.get("states", {}), f"states history lacks Pending: {state}"


async def test_text_message(suite: Suite) -> None:
    account = await suite.account()
    response = await suite.user(account).post("/messages", json={"textMessage": {"text": "Hello, conformance"},
                                                                 "phoneNumbers": [PHONE],
                                                                 "deviceId": account.device_id})
    state = expect(response, 202).json()
    check_pending(state, account.device_id, [PHONE])
    assert state.get("textMessage") == {"text": "Hello, conformance"}, f"content not echoed: {state}"
    assert response.headers.get("location"), f"202 without a Location: {describe(response)}"
    stored = await suite.message(account, state["id"])
    check_pending(stored, account.device_id, [PHONE])
    assert stored.get("textMessage") == {"text": "Hello, conformance"}, f"GET lost the content: {stored}"


@pytest.mark.should
async def test_location_reads_the_message(suite: Suite) -> None:
    account = await suite.account()
    response = expect(await suite.user(account).post("/messages", json={"textMessage": {"text": "where"},
                                                                        "phoneNumbers": [PHONE],
                                                                        "deviceId": account.device_id}), 202)
    location = response.headers.get("location", "")
    url = urljoin(str(response.url), location)  # relative to the request (the API may sit behind a gateway)
    found = expect(await suite.http.get(url, auth=account.basic), 200).json()
    assert found.get("id") == response.json()["id"], f"Location {location} shows {found}"


async def test_data_message(suite: Suite) -> None:
    account = await suite.account()
    data = base64.b64encode(b"\x00\x01conformance").decode()
    state = await suite.send(account, {"dataMessage": {"data": data, "port": 53739}, "phoneNumbers": [PHONE]})
    check_pending(state, account.device_id, [PHONE])
    assert state.get("dataMessage") == {"data": data, "port": 53739}, f"data not echoed: {state}"
    stored = await suite.message(account, state["id"])
    assert stored.get("dataMessage") == {"data": data, "port": 53739} and "textMessage" not in stored, stored


async def test_phone_numbers_normalised(suite: Suite) -> None:
    account = await suite.account()
    state = await suite.send(account, {"textMessage": {"text": "e164"}, "phoneNumbers": ["+7 (999) 000-12-35"]})
    assert [r["phoneNumber"] for r in state["recipients"]] == ["+79990001235"], f"not E.164: {state}"


async def test_invalid_phone_and_skipping_validation(suite: Suite) -> None:
    account = await suite.account()
    user = suite.user(account)
    expect(await user.post("/messages", json={"textMessage": {"text": "x"}, "phoneNumbers": ["12"]}), 400)
    state = await suite.send(account, {"textMessage": {"text": "x"}, "phoneNumbers": ["12"]},
                             params={"skipPhoneValidation": "true"})
    assert [r["phoneNumber"] for r in state["recipients"]] == ["12"], f"skipPhoneValidation: {state}"


@pytest.mark.parametrize("case", ["no-content", "two-contents", "no-numbers", "ttl-and-validUntil",
                                  "schedule-in-past", "duplicate-numbers", "bad-base64-port", "sim-number"])
async def test_invalid_message_is_400(suite: Suite, case: str) -> None:
    text = {"textMessage": {"text": "x"}}
    bodies: dict[str, dict[str, Any]] = {
        "no-content": {"phoneNumbers": [PHONE]},
        "two-contents": {**text, "dataMessage": {"data": "AAAA", "port": 1}, "phoneNumbers": [PHONE]},
        "no-numbers": {**text, "phoneNumbers": []},
        "ttl-and-validUntil": {**text, "phoneNumbers": [PHONE], "ttl": 60, "validUntil": later(hours=1)},
        "schedule-in-past": {**text, "phoneNumbers": [PHONE], "scheduleAt": later(hours=-1)},
        "duplicate-numbers": {**text, "phoneNumbers": [PHONE, "+7 999 000 12 34"]},
        "bad-base64-port": {"dataMessage": {"data": "AAAA", "port": 0}, "phoneNumbers": [PHONE]},
        "sim-number": {**text, "phoneNumbers": [PHONE], "simNumber": 4},
    }
    account = await suite.account()
    expect(await suite.user(account).post("/messages", json=bodies[case]), 400)


async def test_unknown_device_is_400(suite: Suite) -> None:
    account = await suite.account()
    response = await suite.user(account).post("/messages", json={"textMessage": {"text": "x"},
                                                                 "phoneNumbers": [PHONE], "deviceId": "A" * 21})
    expect(response, 400)


async def test_device_fetches_pending_with_options(suite: Suite) -> None:
    account = await suite.account()
    sent = await suite.send(account, {"textMessage": {"text": "fetch me"}, "phoneNumbers": [PHONE], "simNumber": 1,
                                      "priority": 100, "ttl": 3600, "id": f"fetch-{account.device_id}"})
    device = suite.device(account)
    for _ in range(2):  # fetching does not take the message
        pending = {m["id"]: m for m in await device.ok("GET", "/message", 200)}
        assert sent["id"] in pending, f"the device does not get its message: {list(pending)}"
    item = pending[sent["id"]]
    assert item.get("textMessage") == {"text": "fetch me"} and item.get("phoneNumbers") == [PHONE], item
    assert item.get("state") == "Pending" and item.get("simNumber") == 1 and item.get("priority") == 100, item
    assert item.get("withDeliveryReport") is True, f"withDeliveryReport defaults to true: {item}"
    assert item.get("validUntil") and 0 < int(item.get("ttl", 0)) <= 3600, f"ttl/validUntil: {item}"
    assert "deviceId" not in item, f"the device view omits deviceId: {item}"


async def test_other_device_does_not_get_it(suite: Suite) -> None:
    account = await suite.account()
    other = await suite.account(join=account)
    sent = await suite.send(account, {"textMessage": {"text": "mine"}, "phoneNumbers": [PHONE],
                                      "deviceId": account.device_id})
    pending = await suite.device(other).ok("GET", "/message", 200)
    assert sent["id"] not in {m["id"] for m in pending}, "a message reached another device"


# Each send option, each value tried (defaults too), as the phone must get it: (options sent, what to see).
OPTIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "defaults": ({}, {"withDeliveryReport": True, "simNumber": None, "priority": 0, "isEncrypted": False,
                      "validUntil": None, "scheduleAt": None}),
    "withDeliveryReport-false": ({"withDeliveryReport": False}, {"withDeliveryReport": False}),
    "withDeliveryReport-true": ({"withDeliveryReport": True}, {"withDeliveryReport": True}),
    "simNumber": ({"simNumber": 2}, {"simNumber": 2}),
    "priority-high": ({"priority": 100}, {"priority": 100}),
    "priority-negative": ({"priority": -5}, {"priority": -5}),
    "scheduleAt": ({"scheduleAt": "2099-01-02T03:04:05Z"}, {"scheduleAt": "2099-01-02T03:04:05Z"}),
    "validUntil": ({"validUntil": "2099-01-02T03:04:05Z"}, {"validUntil": "2099-01-02T03:04:05Z"}),
    "ttl": ({"ttl": 600}, {"ttl": 600}),
    "isEncrypted": ({"isEncrypted": True}, {"isEncrypted": True}),
    "deviceId": ({"deviceId": "second"}, {}),
}


def _same_time(a: Any, b: Any) -> bool:
    from conformance.harness.times import parse

    return a is not None and b is not None and parse(a) == parse(b)


@pytest.mark.parametrize("option", list(OPTIONS))
async def test_send_option_reaches_the_phone(suite: Suite, option: str) -> None:
    """Every send option reaches the phone as it was sent, checked on the message the device pulls."""
    sent_options, wanted = OPTIONS[option]
    account = await suite.account()
    device = account
    if "deviceId" in sent_options:
        device = await suite.account(join=account)
        sent_options = {"deviceId": device.device_id}
    text = "b3BhcXVl" if sent_options.get("isEncrypted") else f"option {option}"
    sent = await suite.send(account, {"textMessage": {"text": text}, "phoneNumbers": [PHONE], **sent_options})
    pending = {m["id"]: m for m in await suite.device(device).ok("GET", "/message", 200)}
    assert sent["id"] in pending, f"the device {device.device_id} does not get the message: {list(pending)}"
    item = pending[sent["id"]]
    assert item.get("textMessage") == {"text": text}, f"text as sent: {item}"
    for key, value in wanted.items():
        seen = item.get(key)
        if key == "ttl":
            assert isinstance(seen, int) and 0 < seen <= value and item.get("validUntil"), f"ttl {value}: {item}"
        elif key in ("validUntil", "scheduleAt") and value is not None:
            assert _same_time(seen, value), f"{key} sent as {value}, the phone got {seen!r}: {item}"
        elif key == "priority" and value == 0:
            assert seen in (None, 0), f"priority defaults to 0: {item}"
        else:
            assert seen == value, f"{key} sent as {sent_options.get(key, '(default)')}, the phone got {seen!r}: {item}"


@pytest.mark.should
async def test_json_keys_in_any_case(suite: Suite) -> None:
    """Keys match whatever their letter case, as Go's encoding/json matches them (upstream accepts these)."""
    account = await suite.account()
    response = await suite.user(account).post("/messages", json={
        "TextMessage": {"TEXT": "any case"}, "PHONENUMBERS": [PHONE], "deviceid": account.device_id,
        "WithDeliveryReport": False})
    state = expect(response, 202).json()
    stored = await suite.message(account, state["id"])
    assert stored.get("deviceId") == account.device_id, f"deviceid not read: {stored}"
    pending = {m["id"]: m for m in await suite.device(account).ok("GET", "/message", 200)}
    item = pending.get(state["id"], {})
    assert item.get("textMessage") == {"text": "any case"} and item.get("withDeliveryReport") is False, \
        f"keys in other letter cases were not read: {item}"
