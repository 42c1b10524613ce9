"""3rd-party API messages: send, list, get, cancel, aliases, inbox export/refresh (contract §2.2.2–2.2.5, §2.2.8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import trio
from conftest import Api, error_of, events

from reference_server.storage.tables import devices

BASE = "/api/3rdparty/v1"
PHONE = "+79991234567"
OTHER_PHONE = "+79997654321"


def creds(user: dict[str, Any]) -> tuple[str, str]:
    return user["login"], user["password"]


def text(body: str = "hello", phones: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"textMessage": {"text": body}, "phoneNumbers": phones or [PHONE], **extra}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def utcnow() -> datetime:
    return datetime.now(UTC)


async def sent_ok(api: Api, user: dict[str, Any], body: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = await api.send(user, body, **params)
    assert response.status_code == 202, response.text
    return dict(response.json())


async def pulled(api: Api, device: dict[str, Any]) -> list[dict[str, Any]]:
    """What the phone gets from GET /mobile/v1/message (shows fields the MessageState leaves out)."""
    response = await api.client.get("/api/mobile/v1/message", headers={"Authorization": f"Bearer {device['token']}"})
    assert response.status_code == 200, response.text
    return list(response.json())


async def set_last_seen(database_url: str, device_id: str, moment: datetime) -> None:
    def update() -> None:
        engine = sa.create_engine(database_url)
        try:
            with engine.begin() as conn:
                conn.execute(devices.update().where(devices.c.id == device_id)
                             .values(last_seen=moment.astimezone(UTC).replace(tzinfo=None)))
        finally:
            engine.dispose()

    await trio.to_thread.run_sync(update)


# --- send: success ---------------------------------------------------------------------------------------
async def test_send_returns_pending_state_with_content_and_location(api: Api) -> None:
    user = await api.register()
    before = utcnow() - timedelta(seconds=1)
    response = await api.send(user, text("hello world", [PHONE, OTHER_PHONE]))

    assert response.status_code == 202, response.text
    state = response.json()
    assert len(state["id"]) == 21
    pending_at = parse_time(state.pop("states")["Pending"])
    assert before <= pending_at <= utcnow() + timedelta(seconds=1)
    assert state == {
        "id": state["id"], "deviceId": user["id"], "state": "Pending", "isHashed": False, "isEncrypted": False,
        "recipients": [{"phoneNumber": PHONE, "state": "Pending"}, {"phoneNumber": OTHER_PHONE, "state": "Pending"}],
        "textMessage": {"text": "hello world"},
    }

    location = response.headers["Location"]
    assert location == f"{BASE}/messages/{state['id']}"
    fetched = await api.client.get(location, auth=creds(user))
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["id"] == state["id"]
    assert fetched.json()["textMessage"] == {"text": "hello world"}
    assert parse_time(fetched.json()["states"]["Pending"]) == pending_at


async def test_send_notifies_the_chosen_device(api: Api) -> None:
    user = await api.register()
    second = await api.register(auth=creds(user), name="second")
    api.notifier.sent.clear()

    state = await sent_ok(api, user, text(deviceId=second["id"]))

    assert state["deviceId"] == second["id"]
    [notification] = events(api, "MessageEnqueued")
    assert (notification.user_id, notification.device_id) == (user["login"], second["id"])


async def test_send_picks_among_all_devices_when_none_is_named(api: Api) -> None:
    user = await api.register()
    second = await api.register(auth=creds(user), name="second")
    chosen = {(await sent_ok(api, user, text()))["deviceId"] for _ in range(30)}
    assert chosen == {user["id"], second["id"]}  # a uniformly random pick misses one with p = 2**-29


async def test_client_chosen_id_is_honoured_and_a_duplicate_is_409(api: Api) -> None:
    user = await api.register()
    state = await sent_ok(api, user, text(id="my-own-id-1"))
    assert state["id"] == "my-own-id-1"

    again = await api.send(user, text(id="my-own-id-1"))
    assert error_of(again, 409) == "message with the same ID already exists"

    fetched = await api.client.get(f"{BASE}/messages/my-own-id-1", auth=creds(user))
    assert fetched.status_code == 200
    assert fetched.json()["textMessage"] == {"text": "hello"}


async def test_message_ids_are_unique_per_device_not_per_user(api: Api) -> None:
    user = await api.register()
    second = await api.register(auth=creds(user), name="second")
    await sent_ok(api, user, text(id="shared", deviceId=user["id"]))
    await sent_ok(api, user, text(id="shared", deviceId=second["id"]))
    other_user = await api.register()
    await sent_ok(api, other_user, text(id="shared"))

    # Cancelling an id that names two messages is ambiguous (contract §2.2.5: 400).
    response = await api.client.delete(f"{BASE}/messages/shared", auth=creds(user))
    assert error_of(response, 400).startswith("failed to cancel message")


async def test_with_delivery_report_defaults_to_true(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    await sent_ok(sqlite_api, user, text(id="default"))
    await sent_ok(sqlite_api, user, text(id="off", withDeliveryReport=False))
    await sent_ok(sqlite_api, user, text(id="on", withDeliveryReport=True))

    reports = {m["id"]: m["withDeliveryReport"] for m in await pulled(sqlite_api, user)}
    assert reports == {"default": True, "off": False, "on": True}


async def test_options_reach_the_device(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    schedule_at = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
    await sent_ok(sqlite_api, user, text(simNumber=2, priority=100, ttl=7200, scheduleAt=iso(schedule_at)))

    [message] = await pulled(sqlite_api, user)
    assert message["simNumber"] == 2
    assert message["priority"] == 100
    assert parse_time(message["scheduleAt"]) == schedule_at
    assert 7100 <= message["ttl"] <= 7200  # ttl became an absolute validUntil
    assert abs(parse_time(message["validUntil"]) - (utcnow() + timedelta(hours=2))) < timedelta(seconds=30)


async def test_data_message(api: Api) -> None:
    user = await api.register()
    state = await sent_ok(api, user, {"dataMessage": {"data": "SGVsbG8=", "port": 53739}, "phoneNumbers": [PHONE]})
    assert state["dataMessage"] == {"data": "SGVsbG8=", "port": 53739}
    assert "textMessage" not in state

    fetched = await api.client.get(f"{BASE}/messages/{state['id']}", auth=creds(user))
    assert fetched.json()["dataMessage"] == {"data": "SGVsbG8=", "port": 53739}


async def test_legacy_message_field_is_a_text_message(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    state = await sent_ok(sqlite_api, user, {"message": "old style", "phoneNumbers": [PHONE]})
    assert state["textMessage"] == {"text": "old style"}
    [pulled_message] = await pulled(sqlite_api, user)
    assert pulled_message["message"] == "old style"


async def test_empty_legacy_message_counts_as_absent(sqlite_api: Api) -> None:
    # Go cannot tell "" from a missing string field.
    user = await sqlite_api.register()
    state = await sent_ok(sqlite_api, user, {"message": "", "textMessage": {"text": "new"}, "phoneNumbers": [PHONE]})
    assert state["textMessage"] == {"text": "new"}

    response = await sqlite_api.send(user, {"message": "", "phoneNumbers": [PHONE]})
    assert error_of(response, 400).endswith("must specify exactly one of: textMessage, dataMessage or mmsMessage")


# --- send: phone numbers -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("given", "stored"), [
    ("89991234567", "+79991234567"),  # national Russian number: default region RU
    ("79991234567", "+79991234567"),
    ("9991234567", "+79991234567"),
    ("8 (999) 123-45-67", "+79991234567"),
    ("+1 650 253 0000", "+16502530000"),  # FIXED_LINE_OR_MOBILE
    ("+447911123456", "+447911123456"),
])
async def test_phone_numbers_are_normalised_to_e164(sqlite_api: Api, given: str, stored: str) -> None:
    user = await sqlite_api.register()
    state = await sent_ok(sqlite_api, user, text(phones=[given]))
    assert state["recipients"] == [{"phoneNumber": stored, "state": "Pending"}]


@pytest.mark.parametrize(("phone", "message"), [
    ("abc", "failed to parse phone number: *"),
    ("+0123", "failed to parse phone number: *"),
    ("123", "invalid phone number"),
    ("+7999", "invalid phone number"),
    ("+74951234567", "not mobile phone number"),  # Moscow fixed line
])
async def test_bad_phone_numbers(sqlite_api: Api, phone: str, message: str) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.send(user, text(phones=[PHONE, phone]))
    got = error_of(response, 400)
    if message.endswith("*"):  # the parser's own reason follows
        assert got.startswith(message[:-1]) and len(got) > len(message)
    else:
        assert got == message


@pytest.mark.parametrize(("flags", "params"), [({"isEncrypted": True}, {}), ({}, {"skipPhoneValidation": "true"})],
                         ids=["isEncrypted", "skipPhoneValidation"])
async def test_numbers_are_kept_verbatim_when_encrypted_or_validation_skipped(
        sqlite_api: Api, flags: dict[str, Any], params: dict[str, str]) -> None:
    user = await sqlite_api.register()
    raw = ["89991234567", "not-a-phone", "+74951234567"]
    state = await sent_ok(sqlite_api, user, text(phones=raw, **flags), **params)
    assert [r["phoneNumber"] for r in state["recipients"]] == raw
    assert state["isEncrypted"] is bool(flags)


async def test_skip_phone_validation_false_still_validates(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.send(user, text(phones=["not-a-phone"]), skipPhoneValidation="false")
    assert error_of(response, 400).startswith("failed to parse phone number: ")


@pytest.mark.parametrize(("phones", "params"), [
    (["89991234567", "+79991234567"], {}),  # duplicates only after normalisation
    (["+79991234567", "+79991234567"], {"skipPhoneValidation": "true"}),
])
async def test_duplicate_phone_numbers(sqlite_api: Api, phones: list[str], params: dict[str, str]) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.send(user, text(phones=phones), **params)
    assert error_of(response, 400) == "phone numbers must be unique"


# --- send: devices -------------------------------------------------------------------------------------------
async def test_device_of_another_user_is_not_selectable(api: Api) -> None:
    user = await api.register()
    stranger = await api.register()
    for device_id in (stranger["id"], "x" * 21):
        response = await api.send(user, text(deviceId=device_id))
        assert error_of(response, 400) == "failed to select device: record not found"
    assert events(api, "MessageEnqueued") == []


async def test_device_active_within_filters_on_last_seen(api: Api, database_url: str) -> None:
    user = await api.register()
    stale = await api.register(auth=creds(user), name="stale")
    await set_last_seen(database_url, stale["id"], utcnow() - timedelta(hours=2))

    chosen = {(await sent_ok(api, user, text(), deviceActiveWithin=1))["deviceId"] for _ in range(10)}
    assert chosen == {user["id"]}

    response = await api.send(user, text(deviceId=stale["id"]), deviceActiveWithin=1)
    assert error_of(response, 400) == "failed to select device: record not found"
    assert (await sent_ok(api, user, text(deviceId=stale["id"]), deviceActiveWithin=3))["deviceId"] == stale["id"]
    assert (await sent_ok(api, user, text(deviceId=stale["id"])))["deviceId"] == stale["id"]  # 0 = no filter

    await set_last_seen(database_url, user["id"], utcnow() - timedelta(hours=5))
    response = await api.send(user, text(), deviceActiveWithin=1)
    assert error_of(response, 400) == "failed to select device: record not found"


@pytest.mark.parametrize("value", ["-1", "soon", "1.5"])
async def test_bad_device_active_within(sqlite_api: Api, value: str) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.send(user, text(), deviceActiveWithin=value)
    assert error_of(response, 400).startswith("failed to parse query: deviceActiveWithin")


# --- send: validation ---------------------------------------------------------------------------------------
def in_hours(hours: float) -> str:
    return iso(utcnow() + timedelta(hours=hours))


STRUCT_VIOLATIONS: dict[str, dict[str, Any]] = {
    "phoneNumbers missing": {"textMessage": {"text": "x"}},
    "phoneNumbers empty": text(phones=[]) | {"phoneNumbers": []},
    "phoneNumbers 101 items": text() | {"phoneNumbers": [f"+7999{i:07d}" for i in range(101)]},
    "phone number empty": text() | {"phoneNumbers": [""]},
    "phone number 513 chars": text() | {"phoneNumbers": ["1" * 513]},
    "id 37 chars": text(id="i" * 37),
    "deviceId 22 chars": text(deviceId="d" * 22),
    "text empty": text(""),
    "text too long": text("x" * 65536),
    "text missing": {"textMessage": {}, "phoneNumbers": [PHONE]},
    "legacy message too long": {"message": "x" * 65536, "phoneNumbers": [PHONE]},
    "data too short": {"dataMessage": {"data": "QQ=", "port": 1}, "phoneNumbers": [PHONE]},
    "data not base64": {"dataMessage": {"data": "not base64!", "port": 1}, "phoneNumbers": [PHONE]},
    "data badly padded": {"dataMessage": {"data": "QUJDRA", "port": 1}, "phoneNumbers": [PHONE]},
    "port 0": {"dataMessage": {"data": "QUJD", "port": 0}, "phoneNumbers": [PHONE]},
    "port 65536": {"dataMessage": {"data": "QUJD", "port": 65536}, "phoneNumbers": [PHONE]},
    "port missing": {"dataMessage": {"data": "QUJD"}, "phoneNumbers": [PHONE]},
    "simNumber 0": text(simNumber=0),
    "simNumber 4": text(simNumber=4),
    "priority 128": text(priority=128),
    "priority -129": text(priority=-129),
    "ttl 4": text(ttl=4),
    "validUntil not a date": text(validUntil="tomorrow"),
    "validUntil date only": text(validUntil="2099-01-01"),
    "validUntil a number in a string": text(validUntil="4102444800"),
    "scheduleAt not a date": text(scheduleAt="later"),
}


@pytest.mark.parametrize("body", STRUCT_VIOLATIONS.values(), ids=STRUCT_VIOLATIONS.keys())
async def test_struct_rules(sqlite_api: Api, body: dict[str, Any]) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.send(user, body)
    assert error_of(response, 400).startswith("failed to validate: ")
    assert events(sqlite_api, "MessageEnqueued") == []


WRONG_TYPES: dict[str, dict[str, Any]] = {
    "phoneNumbers a string": text() | {"phoneNumbers": PHONE},
    "phone number an int": text() | {"phoneNumbers": [79991234567]},
    "isEncrypted a string": text(isEncrypted="yes"),
    "withDeliveryReport a string": text(withDeliveryReport="false"),
    "priority a float": text(priority=1.5),
    "ttl a string": text(ttl="60"),
    "textMessage a string": {"textMessage": "hi", "phoneNumbers": [PHONE]},
    "body an array": [text()],  # type: ignore[dict-item]
}


@pytest.mark.parametrize("body", WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
async def test_wrong_json_types(sqlite_api: Api, body: Any) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.send(user, body)
    assert error_of(response, 400).startswith("failed to ")


async def test_struct_boundaries_are_accepted(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    phones = [f"+7999{i:07d}" for i in range(100)]
    body = text("x" * 65535, phones, id="i" * 36, simNumber=3, priority=-128, ttl=5)
    state = await sent_ok(sqlite_api, user, body)
    assert len(state["recipients"]) == 100
    await sent_ok(sqlite_api, user, {"dataMessage": {"data": "QUJD", "port": 65535}, "phoneNumbers": [PHONE],
                                     "simNumber": 1, "priority": 127})


@pytest.mark.parametrize("body", [
    {"phoneNumbers": [PHONE]},
    {"textMessage": {"text": "a"}, "dataMessage": {"data": "QUJD", "port": 1}, "phoneNumbers": [PHONE]},
    {"message": "a", "textMessage": {"text": "a"}, "phoneNumbers": [PHONE]},
    {"message": "a", "dataMessage": {"data": "QUJD", "port": 1}, "phoneNumbers": [PHONE]},
], ids=["none", "text+data", "message+text", "message+data"])
async def test_exactly_one_content(sqlite_api: Api, body: dict[str, Any]) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.send(user, body)
    message = error_of(response, 400)
    assert message.startswith("failed to validate")
    assert message.endswith("must specify exactly one of: textMessage, dataMessage or mmsMessage")


async def test_ttl_and_valid_until_conflict(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.send(user, text(ttl=60, validUntil=in_hours(1)))
    assert "conflict fields: ttl and validUntil" in error_of(response, 400)


@pytest.mark.parametrize("offset_hours", [-1, 0])
async def test_schedule_at_must_be_in_the_future(sqlite_api: Api, offset_hours: float) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.send(user, text(scheduleAt=in_hours(offset_hours)))
    assert "scheduleAt must be in the future" in error_of(response, 400)


async def test_schedule_at_after_valid_until(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    for limit in ({"ttl": 60}, {"validUntil": in_hours(0.5)}):
        response = await sqlite_api.send(user, text(scheduleAt=in_hours(1), **limit))
        assert error_of(response, 400) == "scheduleAt must be less than or equal to validUntil"
    moment = in_hours(1)
    await sent_ok(sqlite_api, user, text(scheduleAt=moment, validUntil=moment))  # equal is fine


ORDER_CASES = {
    # Each body breaks rule k and a later rule; the earlier rule's message wins (contract §2.2.2).
    "struct before content": (lambda: {"phoneNumbers": []}, "failed to validate: "),
    "content before ttl conflict": (
        lambda: {"phoneNumbers": [PHONE], "ttl": 60, "validUntil": in_hours(1)},
        "must specify exactly one of: textMessage, dataMessage or mmsMessage"),
    "ttl conflict before scheduleAt": (
        lambda: text(ttl=60, validUntil=in_hours(1), scheduleAt=in_hours(-1)), "conflict fields: ttl and validUntil"),
    "scheduleAt before device": (
        lambda: text(scheduleAt=in_hours(-1), deviceId="x" * 21), "scheduleAt must be in the future"),
    "device before phone": (
        lambda: text(phones=["abc"], deviceId="x" * 21), "failed to select device: record not found"),
    "phone before duplicates": (
        lambda: text(phones=[PHONE, "89991234567", "abc"]), "failed to parse phone number: "),
    "duplicates before scheduleAt>validUntil": (
        lambda: text(phones=[PHONE, "89991234567"], scheduleAt=in_hours(2), validUntil=in_hours(1)),
        "phone numbers must be unique"),
}


@pytest.mark.parametrize(("make_body", "expected"), ORDER_CASES.values(), ids=ORDER_CASES.keys())
async def test_validation_order(sqlite_api: Api, make_body: Any, expected: str) -> None:
    user = await sqlite_api.register()
    message = error_of(await sqlite_api.send(user, make_body()), 400)
    assert expected in message, message


# --- list --------------------------------------------------------------------------------------------------
async def list_messages(api: Api, user: dict[str, Any], path: str = "/messages",
                        **params: Any) -> tuple[list[dict[str, Any]], int]:
    response = await api.client.get(BASE + path, params=params, auth=creds(user))
    assert response.status_code == 200, response.text
    return list(response.json()), int(response.headers["X-Total-Count"])


def ids(found: list[dict[str, Any]]) -> list[str]:
    return [m["id"] for m in found]


async def test_list_filters_paging_and_sort(api: Api) -> None:
    user = await api.register()
    second = await api.register(auth=creds(user), name="second")
    sent = []
    for ext_id, device in (("m1", user), ("m2", second), ("m3", user)):
        sent.append(await sent_ok(api, user, text(f"text of {ext_id}", id=ext_id, deviceId=device["id"])))
        await trio.sleep(0.01)  # distinct created_at milliseconds
    at = {s["id"]: s["states"]["Pending"] for s in sent}

    found, total = await list_messages(api, user)
    assert (ids(found), total) == (["m3", "m2", "m1"], 3)
    assert all("textMessage" not in m for m in found)
    assert found[0]["recipients"] == [{"phoneNumber": PHONE, "state": "Pending"}]
    assert parse_time(found[0]["states"]["Pending"]) == parse_time(at["m3"])

    assert ids((await list_messages(api, user, sort="-created_at"))[0]) == ["m3", "m2", "m1"]
    assert ids((await list_messages(api, user, sort="created_at"))[0]) == ["m1", "m2", "m3"]
    assert [(ids(f), t) for f, t in [await list_messages(api, user, limit=2),
                                     await list_messages(api, user, limit=2, offset=2),
                                     await list_messages(api, user, limit=1, offset=1, sort="created_at"),
                                     await list_messages(api, user, offset=3)]] == [
        (["m3", "m2"], 3), (["m1"], 3), (["m2"], 3), ([], 3)]

    assert await list_messages(api, user, deviceId=user["id"]) == ([found[0], found[2]], 2)
    assert ids((await list_messages(api, user, deviceId=second["id"]))[0]) == ["m2"]

    assert ids((await list_messages(api, user, **{"from": at["m2"]}))[0]) == ["m3", "m2"]  # from inclusive
    assert ids((await list_messages(api, user, to=at["m2"]))[0]) == ["m1"]  # to exclusive
    assert await list_messages(api, user, **{"from": at["m2"], "to": at["m3"]}) == ([found[1]], 1)
    assert await list_messages(api, user, to=at["m1"]) == ([], 0)

    with_content, _ = await list_messages(api, user, includeContent="true")
    assert [m["textMessage"] for m in with_content] == [{"text": f"text of m{i}"} for i in (3, 2, 1)]
    assert "textMessage" not in (await list_messages(api, user, includeContent="false"))[0][0]

    cancelled = await api.client.delete(f"{BASE}/messages/m1", auth=creds(user))
    assert cancelled.status_code == 200
    assert ids((await list_messages(api, user, state="Cancelling"))[0]) == ["m1"]
    assert await list_messages(api, user, state="Pending", limit=1) == ([found[0]], 2)
    assert await list_messages(api, user, state="Failed") == ([], 0)


async def test_list_shows_only_the_users_messages(api: Api) -> None:
    user = await api.register()
    stranger = await api.register()
    await sent_ok(api, stranger, text(id="theirs"))

    response = await api.client.get(f"{BASE}/messages", auth=creds(user))
    assert response.status_code == 200
    assert response.text == "[]"
    assert response.headers["X-Total-Count"] == "0"

    await sent_ok(api, user, text(id="mine"))
    assert [ids(f) for f, _ in [await list_messages(api, user), await list_messages(api, stranger)]] == [
        ["mine"], ["theirs"]]
    # Filtering by someone else's device shows nothing either.
    assert await list_messages(api, user, deviceId=stranger["id"]) == ([], 0)


@pytest.mark.parametrize("params", [
    {"from": "yesterday"}, {"to": "2024-13-01T00:00:00Z"}, {"from": "2024-01-01"},
    {"state": "Unknown"}, {"state": "pending"},
    {"deviceId": "short"}, {"deviceId": "d" * 22},
    {"limit": "0"}, {"limit": "101"}, {"limit": "ten"}, {"offset": "-1"},
    {"sort": "created"}, {"sort": "+created_at"}, {"includeContent": "maybe"},
], ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()))
async def test_list_rejects_bad_query(sqlite_api: Api, params: dict[str, str]) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.client.get(f"{BASE}/messages", params=params, auth=creds(user))
    message = error_of(response, 400)
    assert message.startswith(f"failed to parse query: {next(iter(params))}")


async def test_list_limit_bounds_are_accepted(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    for ext_id in ("a", "b"):
        await sent_ok(sqlite_api, user, text(id=ext_id))
    assert ids((await list_messages(sqlite_api, user, limit=1))[0]) == ["b"]
    assert len((await list_messages(sqlite_api, user, limit=100))[0]) == 2


async def test_list_default_limit_is_50(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    for n in range(51):
        await sent_ok(sqlite_api, user, text(id=f"m{n}"))
    found, total = await list_messages(sqlite_api, user)
    assert (len(found), total) == (50, 51)


# --- get ---------------------------------------------------------------------------------------------------
async def test_get_message(api: Api) -> None:
    user = await api.register()
    sent = await sent_ok(api, user, text("get me", id="get-me"))

    response = await api.client.get(f"{BASE}/messages/get-me", auth=creds(user))
    assert response.status_code == 200, response.text
    got = response.json()
    assert got.pop("states").keys() == {"Pending"}
    sent.pop("states")
    assert got == sent

    missing = await api.client.get(f"{BASE}/messages/nope", auth=creds(user))
    assert error_of(missing, 404) == "message not found"

    stranger = await api.register()
    theirs = await api.client.get(f"{BASE}/messages/get-me", auth=creds(stranger))
    assert error_of(theirs, 404) == "message not found"


async def test_get_shows_what_the_device_reported(api: Api) -> None:
    user = await api.register()
    await sent_ok(api, user, text(id="reported", phones=[PHONE, OTHER_PHONE]))
    await report(api, user, "reported", "Failed", [(PHONE, "Sent", None), (OTHER_PHONE, "Failed", "no signal")])

    got = (await api.client.get(f"{BASE}/messages/reported", auth=creds(user))).json()
    assert got["state"] == "Failed"
    assert got["recipients"] == [{"phoneNumber": PHONE, "state": "Sent"},
                                 {"phoneNumber": OTHER_PHONE, "state": "Failed", "error": "no signal"}]
    assert set(got["states"]) == {"Pending", "Failed"}


# --- cancel ------------------------------------------------------------------------------------------------
async def report(api: Api, device: dict[str, Any], ext_id: str, state: str,
                 recipients: list[tuple[str, str, str | None]]) -> None:
    body = [{"id": ext_id, "state": state, "states": {state: iso(utcnow())},
             "recipients": [{"phoneNumber": p, "state": s, **({"error": e} if e else {})} for p, s, e in recipients]}]
    response = await api.client.patch("/api/mobile/v1/message", json=body,
                                      headers={"Authorization": f"Bearer {device['token']}"})
    assert response.status_code == 204, response.text


async def test_cancel_pending_message(api: Api) -> None:
    user = await api.register()
    second = await api.register(auth=creds(user), name="second")
    await sent_ok(api, user, text(id="cancel-me", deviceId=second["id"]))
    api.notifier.sent.clear()

    response = await api.client.delete(f"{BASE}/messages/cancel-me", auth=creds(user))
    assert response.status_code == 200, response.text
    state = response.json()
    assert (state["id"], state["deviceId"], state["state"]) == ("cancel-me", second["id"], "Cancelling")
    assert state["recipients"] == [{"phoneNumber": PHONE, "state": "Pending"}]
    assert set(state["states"]) == {"Pending"}

    [notification] = events(api, "MessageCancelled")
    assert (notification.user_id, notification.device_id) == (user["login"], second["id"])
    assert notification.event.data == {"messageId": "cancel-me"}

    got = await api.client.get(f"{BASE}/messages/cancel-me", auth=creds(user))
    assert got.json()["state"] == "Cancelling"

    again = await api.client.delete(f"{BASE}/messages/cancel-me", auth=creds(user))
    assert error_of(again, 409) == "failed to cancel message: message is not pending"
    assert len(events(api, "MessageCancelled")) == 1


async def test_cancel_unknown_or_foreign_message_is_404(api: Api) -> None:
    user = await api.register()
    stranger = await api.register()
    await sent_ok(api, stranger, text(id="theirs"))
    for ext_id in ("nope", "theirs"):
        response = await api.client.delete(f"{BASE}/messages/{ext_id}", auth=creds(user))
        assert error_of(response, 404) == "failed to cancel message: message not found"
    got = await api.client.get(f"{BASE}/messages/theirs", auth=creds(stranger))
    assert got.json()["state"] == "Pending"


@pytest.mark.parametrize("state", ["Processed", "Sent", "Failed"])
async def test_cancel_after_the_device_took_the_message_is_409(sqlite_api: Api, state: str) -> None:
    user = await sqlite_api.register()
    await sent_ok(sqlite_api, user, text(id="taken"))
    await report(sqlite_api, user, "taken", state, [(PHONE, state, None)])
    sqlite_api.notifier.sent.clear()

    response = await sqlite_api.client.delete(f"{BASE}/messages/taken", auth=creds(user))
    assert error_of(response, 409) == "failed to cancel message: message is not pending"
    assert events(sqlite_api, "MessageCancelled") == []


async def test_cancelled_message_goes_to_the_device_as_cancelling(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    await sent_ok(sqlite_api, user, text(id="c"))
    await sqlite_api.client.delete(f"{BASE}/messages/c", auth=creds(user))
    assert [(m["id"], m["state"]) for m in await pulled(sqlite_api, user)] == [("c", "Cancelling")]


# --- legacy aliases -------------------------------------------------------------------------------------------
async def test_legacy_message_aliases(api: Api) -> None:
    user = await api.register()
    response = await api.client.post(f"{BASE}/message", json=text(id="legacy"), auth=creds(user))
    assert response.status_code == 202, response.text
    assert response.json()["textMessage"] == {"text": "hello"}
    assert (await api.client.get(response.headers["Location"], auth=creds(user))).status_code == 200

    duplicate = await api.client.post(f"{BASE}/message", json=text(id="legacy"), auth=creds(user))
    assert error_of(duplicate, 409) == "message with the same ID already exists"
    invalid = await api.client.post(f"{BASE}/message", json={"phoneNumbers": [PHONE]}, auth=creds(user))
    assert error_of(invalid, 400).endswith("must specify exactly one of: textMessage, dataMessage or mmsMessage")

    found, total = await list_messages(api, user, path="/message", includeContent="true")
    assert (ids(found), total) == (["legacy"], 1)
    assert found[0]["textMessage"] == {"text": "hello"}
    bad = await api.client.get(f"{BASE}/message", params={"limit": 0}, auth=creds(user))
    assert error_of(bad, 400).startswith("failed to parse query: limit")

    got = await api.client.get(f"{BASE}/message/legacy", auth=creds(user))
    assert (got.status_code, got.json()["id"]) == (200, "legacy")
    assert error_of(await api.client.get(f"{BASE}/message/nope", auth=creds(user)), 404) == "message not found"

    cancelled = await api.client.delete(f"{BASE}/message/legacy", auth=creds(user))
    assert (cancelled.status_code, cancelled.json()["state"]) == (200, "Cancelling")
    again = await api.client.delete(f"{BASE}/message/legacy", auth=creds(user))
    assert error_of(again, 409) == "failed to cancel message: message is not pending"
    unknown = await api.client.delete(f"{BASE}/message/nope", auth=creds(user))
    assert error_of(unknown, 404) == "failed to cancel message: message not found"


# --- inbox export (deprecated) and refresh --------------------------------------------------------------------
SINCE, UNTIL = "2025-01-01T00:00:00Z", "2025-01-02T12:30:00+02:00"


@pytest.mark.parametrize("path", ["/messages/inbox/export", "/message/inbox/export"])
async def test_inbox_export_is_deprecated_refresh_of_sms_with_webhooks(api: Api, path: str) -> None:
    user = await api.register()
    api.notifier.sent.clear()
    response = await api.client.post(BASE + path, json={"since": SINCE, "until": UNTIL, "deviceId": user["id"]},
                                     auth=creds(user))
    assert response.status_code == 202, response.text
    assert response.json() == {}
    assert response.headers["Deprecation"] == "true"

    [notification] = events(api, "MessagesExportRequested")
    assert (notification.user_id, notification.device_id) == (user["login"], user["id"])
    data = dict(notification.event.data or {})
    assert parse_time(data.pop("since")) == parse_time(SINCE)
    assert parse_time(data.pop("until")) == parse_time(UNTIL)
    assert data == {"messageTypes": "SMS", "webhookDelivery": "Individual", "triggerWebhooks": "true"}


async def test_inbox_export_errors(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    backwards = await sqlite_api.client.post(f"{BASE}/messages/inbox/export",
                                             json={"since": UNTIL, "until": SINCE}, auth=creds(user))
    assert error_of(backwards, 400).startswith("failed to validate")
    missing = await sqlite_api.client.post(f"{BASE}/messages/inbox/export", json={"since": SINCE}, auth=creds(user))
    assert error_of(missing, 400).startswith("failed to validate: until")
    assert events(sqlite_api, "MessagesExportRequested") == []


REFRESH_CASES = {
    "defaults": ({}, {"webhookDelivery": "Disabled", "triggerWebhooks": "false"}),
    "both types": ({"messageTypes": ["SMS", "MMS"]},
                   {"messageTypes": "SMS,MMS", "webhookDelivery": "Disabled", "triggerWebhooks": "false"}),
    "batch": ({"webhookDelivery": "Batch", "messageTypes": ["MMS"]},
              {"messageTypes": "MMS", "webhookDelivery": "Batch", "triggerWebhooks": "true"}),
    "individual": ({"webhookDelivery": "Individual"}, {"webhookDelivery": "Individual", "triggerWebhooks": "true"}),
    "legacy trigger true": ({"triggerWebhooks": True}, {"webhookDelivery": "Individual", "triggerWebhooks": "true"}),
    "legacy trigger false": ({"triggerWebhooks": False}, {"webhookDelivery": "Disabled", "triggerWebhooks": "false"}),
    "delivery wins over trigger": ({"webhookDelivery": "Disabled", "triggerWebhooks": True},
                                   {"webhookDelivery": "Disabled", "triggerWebhooks": "false"}),
}


@pytest.mark.parametrize(("extra", "expected"), REFRESH_CASES.values(), ids=REFRESH_CASES.keys())
async def test_inbox_refresh_event_data(sqlite_api: Api, extra: dict[str, Any], expected: dict[str, str]) -> None:
    user = await sqlite_api.register()
    sqlite_api.notifier.sent.clear()
    response = await sqlite_api.client.post(f"{BASE}/inbox/refresh", json={"since": SINCE, "until": UNTIL, **extra},
                                            auth=creds(user))
    assert response.status_code == 202, response.text
    assert response.json() == {}
    assert "Deprecation" not in response.headers

    [notification] = events(sqlite_api, "MessagesExportRequested")
    assert (notification.user_id, notification.device_id) == (user["login"], None)  # all devices
    data = dict(notification.event.data or {})
    assert parse_time(data.pop("since")) == parse_time(SINCE)
    assert parse_time(data.pop("until")) == parse_time(UNTIL)
    assert data == expected


async def test_inbox_refresh_for_one_device(api: Api) -> None:
    user = await api.register()
    second = await api.register(auth=creds(user), name="second")
    api.notifier.sent.clear()
    response = await api.client.post(f"{BASE}/inbox/refresh",
                                     json={"since": SINCE, "until": SINCE, "deviceId": second["id"]}, auth=creds(user))
    assert response.status_code == 202, response.text
    [notification] = events(api, "MessagesExportRequested")
    assert notification.device_id == second["id"]


@pytest.mark.parametrize("body", [
    {"since": UNTIL, "until": SINCE},
    {"until": UNTIL},
    {"since": SINCE},
    {"since": "yesterday", "until": UNTIL},
    {"since": SINCE, "until": UNTIL, "messageTypes": []},
    {"since": SINCE, "until": UNTIL, "messageTypes": ["FAX"]},
    {"since": SINCE, "until": UNTIL, "webhookDelivery": "Sometimes"},
    {"since": SINCE, "until": UNTIL, "deviceId": "d" * 22},
], ids=["since>until", "no since", "no until", "bad since", "no types", "bad type", "bad delivery",
        "deviceId 22 chars"])
async def test_inbox_refresh_rejects(sqlite_api: Api, body: dict[str, Any]) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.client.post(f"{BASE}/inbox/refresh", json=body, auth=creds(user))
    assert error_of(response, 400).startswith("failed to validate")
    assert events(sqlite_api, "MessagesExportRequested") == []


async def test_logs_are_not_implemented(sqlite_api: Api) -> None:
    user = await sqlite_api.register()  # the inbox is stored since upstream 1.48: test_inbox.py
    logs = await sqlite_api.client.get(f"{BASE}/logs", params={"from": SINCE}, auth=creds(user))
    assert error_of(logs, 501) == "For privacy reasons, device's logs are not accessible through Cloud server"
    for path in ("/inbox", "/logs"):
        assert error_of(await sqlite_api.client.get(BASE + path), 401) == "Unauthorized"
