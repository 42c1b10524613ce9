"""Mobile API: pulling pending messages and reporting their states (contract §2.3 #6-#7, §3.2;
device protocol §1.8-§1.9)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import Api

MOBILE = "/api/mobile/v1"
PHONE_A, PHONE_B = "+79990001122", "+79990003344"


def bearer(device: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {device['token']}"}


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def in_future(**delta: float) -> str:
    return rfc3339(datetime.now(UTC).replace(microsecond=0) + timedelta(**delta))


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def send(api: Api, user: dict[str, Any], device: dict[str, Any] | None = None, *,
               phones: list[str] | None = None, **body: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"phoneNumbers": phones or [PHONE_A], "deviceId": (device or user)["id"], **body}
    if "textMessage" not in body and "dataMessage" not in body and "message" not in body:
        payload["textMessage"] = {"text": "hello"}
    response = await api.send(user, payload)
    assert response.status_code == 202, response.text
    return dict(response.json())


async def pull(api: Api, device: dict[str, Any], path: str = "/message", **params: str) -> list[dict[str, Any]]:
    response = await api.client.get(f"{MOBILE}{path}", headers=bearer(device), params=params)
    assert response.status_code == 200, response.text
    return list(response.json())


async def report(api: Api, device: dict[str, Any], items: list[dict[str, Any]], path: str = "/message") -> None:
    response = await api.client.patch(f"{MOBILE}{path}", headers=bearer(device), json=items)
    assert response.status_code == 204, response.text
    assert response.content == b""


async def state_of(api: Api, user: dict[str, Any], message_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/api/3rdparty/v1/messages/{message_id}", auth=(user["login"], user["password"]))
    assert response.status_code == 200, response.text
    return dict(response.json())


def item(message_id: str, state: str, phones: list[str] | None = None, recipient_state: str | None = None,
         **extra: Any) -> dict[str, Any]:
    return {"id": message_id, "state": state,
            "recipients": [{"phoneNumber": p, "state": recipient_state or state} for p in phones or [PHONE_A]],
            **extra}


def assert_error(response: httpx.Response, status: int, starts_with: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"message"} and body["message"].startswith(starts_with), body


# --- GET /message -----------------------------------------------------------------------------------------
async def test_pull_returns_pending_text_message(api: Api) -> None:
    user = await api.register()
    sent = await send(api, user, phones=[PHONE_A, PHONE_B], textMessage={"text": "Hi <there> & 'you'"},
                      simNumber=2, withDeliveryReport=False, ttl=3600)
    [message] = await pull(api, user)
    assert set(message) == {"id", "message", "textMessage", "phoneNumbers", "isEncrypted", "simNumber",
                            "withDeliveryReport", "ttl", "validUntil", "state", "createdAt"}
    assert message["id"] == sent["id"]
    assert message["textMessage"] == {"text": "Hi <there> & 'you'"}
    assert message["message"] == "Hi <there> & 'you'"
    assert message["phoneNumbers"] == [PHONE_A, PHONE_B]
    assert message["isEncrypted"] is False and message["withDeliveryReport"] is False
    assert message["simNumber"] == 2
    assert message["state"] == "Pending"
    assert 3590 <= message["ttl"] <= 3600
    created, valid_until = parse_time(message["createdAt"]), parse_time(message["validUntil"])
    assert abs((valid_until - created).total_seconds() - 3600) < 1
    assert abs((datetime.now(UTC) - created).total_seconds()) < 30
    assert created == parse_time(sent["states"]["Pending"])


async def test_pull_minimal_message_omits_optional_fields(api: Api) -> None:
    user = await api.register()
    await send(api, user)
    [message] = await pull(api, user)
    assert set(message) == {"id", "message", "textMessage", "phoneNumbers", "isEncrypted", "withDeliveryReport",
                            "state", "createdAt"}
    assert message["withDeliveryReport"] is True


async def test_pull_message_options(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    valid_until = in_future(hours=5)
    schedule_at = in_future(hours=1)
    sent = await send(sqlite_api, user, priority=-5, validUntil=valid_until, scheduleAt=schedule_at)
    [message] = await pull(sqlite_api, user)
    assert message["id"] == sent["id"]
    assert message["priority"] == -5
    assert parse_time(message["validUntil"]) == parse_time(valid_until)
    assert parse_time(message["scheduleAt"]) == parse_time(schedule_at)
    assert 5 * 3600 - 30 <= message["ttl"] <= 5 * 3600
    assert "deviceId" not in message


async def test_pull_data_message(api: Api) -> None:
    user = await api.register()
    data = base64.b64encode(b"\x00\x01binary=").decode()
    await send(api, user, dataMessage={"data": data, "port": 53739}, priority=100)
    [message] = await pull(api, user)
    assert message["dataMessage"] == {"data": data, "port": 53739}
    assert "textMessage" not in message and "message" not in message
    assert message["priority"] == 100


async def test_pull_legacy_message_field(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    await send(sqlite_api, user, message="legacy text")
    [message] = await pull(sqlite_api, user)
    assert message["textMessage"] == {"text": "legacy text"} and message["message"] == "legacy text"


async def test_pull_encrypted_message_keeps_ciphertext(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    await send(sqlite_api, user, phones=["$aes-256-cbc/pbkdf2-sha1$i=75000$c2FsdA==$Y2lwaGVy"], isEncrypted=True,
               textMessage={"text": "$aes-256-cbc/pbkdf2-sha1$i=75000$c2FsdA==$dGV4dA=="})
    [message] = await pull(sqlite_api, user)
    assert message["isEncrypted"] is True
    assert message["phoneNumbers"] == ["$aes-256-cbc/pbkdf2-sha1$i=75000$c2FsdA==$Y2lwaGVy"]


async def test_pull_only_this_devices_pending_and_cancelling(api: Api) -> None:
    user = await api.register()
    second = await api.register(auth=(user["login"], user["password"]))
    stranger = await api.register()
    pending = await send(api, user)
    cancelling = await send(api, user)
    processed = await send(api, user)
    await send(api, user, second)
    await send(api, stranger)
    response = await api.client.delete(f"/api/3rdparty/v1/messages/{cancelling['id']}",
                                       auth=(user["login"], user["password"]))
    assert response.status_code == 200, response.text
    await report(api, user, [item(processed["id"], "Processed")])

    found = await pull(api, user)
    assert {m["id"]: m["state"] for m in found} == {pending["id"]: "Pending", cancelling["id"]: "Cancelling"}
    assert len(await pull(api, second)) == 1
    assert len(await pull(api, stranger)) == 1


async def test_pull_does_not_take_messages(api: Api) -> None:
    user = await api.register()
    for _ in range(3):
        await send(api, user)
    first = await pull(api, user)
    assert len(first) == 3
    assert await pull(api, user) == first
    assert await pull(api, user, "/messages") == first
    for message in first:
        assert (await state_of(api, user, message["id"]))["state"] == "Pending"


async def test_pull_order(api: Api) -> None:
    user = await api.register()
    later, sooner = in_future(hours=2), in_future(hours=1)
    m1 = (await send(api, user))["id"]
    m2 = (await send(api, user, priority=10))["id"]
    m3 = (await send(api, user))["id"]
    m4 = (await send(api, user, scheduleAt=later, priority=100))["id"]
    m5 = (await send(api, user, scheduleAt=sooner))["id"]
    m6 = (await send(api, user, scheduleAt=sooner, priority=5))["id"]
    m7 = (await send(api, user, priority=-1))["id"]
    m8 = (await send(api, user, scheduleAt=sooner))["id"]

    lifo = [m["id"] for m in await pull(api, user)]
    assert lifo == [m2, m3, m1, m7, m6, m8, m5, m4]
    assert [m["id"] for m in await pull(api, user, order="lifo")] == lifo
    assert [m["id"] for m in await pull(api, user, "/messages", order="lifo")] == lifo
    fifo = [m["id"] for m in await pull(api, user, order="fifo")]
    assert fifo == [m2, m1, m3, m7, m6, m5, m8, m4]
    assert [m["id"] for m in await pull(api, user, "/messages", order="fifo")] == fifo


@pytest.mark.parametrize("order", ["LIFO", "Fifo", "random", "1"])
async def test_pull_bad_order(sqlite_api: Api, order: str) -> None:
    user = await sqlite_api.register()
    for path in ("/message", "/messages"):
        response = await sqlite_api.client.get(f"{MOBILE}{path}", headers=bearer(user), params={"order": order})
        assert_error(response, 400, "failed to parse query")
        assert "order" in response.json()["message"]


async def test_pull_empty_order_means_default(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    await send(sqlite_api, user)
    assert len(await pull(sqlite_api, user, order="")) == 1


async def test_pull_at_most_100(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    ids = [(await send(sqlite_api, user))["id"] for _ in range(103)]
    lifo = [m["id"] for m in await pull(sqlite_api, user)]
    assert lifo == ids[::-1][:100]
    fifo = [m["id"] for m in await pull(sqlite_api, user, order="fifo")]
    assert fifo == ids[:100]
    # Reporting drains the backlog: the rest comes on the next pull.
    await report(sqlite_api, user, [item(i, "Processed") for i in fifo])
    assert [m["id"] for m in await pull(sqlite_api, user, order="fifo")] == ids[100:]


async def test_pull_empty(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    assert await pull(sqlite_api, user) == []


# --- PATCH /message -----------------------------------------------------------------------------------------
async def test_reported_pending_is_stored_as_processed(api: Api) -> None:
    user = await api.register()
    sent = await send(api, user, phones=[PHONE_A, PHONE_B])
    await report(api, user, [item(sent["id"], "Pending", [PHONE_A, PHONE_B],
                                  states={"Pending": "2026-01-01T10:00:00.000+07:00"})])
    state = await state_of(api, user, sent["id"])
    assert state["state"] == "Processed"
    assert state["recipients"] == [{"phoneNumber": PHONE_A, "state": "Processed"},
                                   {"phoneNumber": PHONE_B, "state": "Processed"}]
    assert state["states"]["Pending"] == sent["states"]["Pending"]  # creation time kept
    assert await pull(api, user) == []


async def test_full_cycle_with_states_history(api: Api) -> None:
    user = await api.register()
    sent = await send(api, user, phones=[PHONE_A, PHONE_B])
    states = {"Pending": "2026-03-01T10:00:00.000+07:00", "Processed": "2026-03-01T10:00:01.250+07:00"}
    await report(api, user, [item(sent["id"], "Processed", [PHONE_A, PHONE_B], states=states)])
    assert await pull(api, user) == []

    states["Sent"] = "2026-03-01T03:00:05.5Z"
    await report(api, user, [item(sent["id"], "Sent", [PHONE_A, PHONE_B], states=states)])
    assert (await state_of(api, user, sent["id"]))["state"] == "Sent"

    states["Delivered"] = "2026-03-01T05:00:09+02:00"
    await report(api, user, [item(sent["id"], "Delivered", [PHONE_A, PHONE_B], states=states)])
    state = await state_of(api, user, sent["id"])
    assert state["state"] == "Delivered"
    assert state["recipients"] == [{"phoneNumber": PHONE_A, "state": "Delivered"},
                                   {"phoneNumber": PHONE_B, "state": "Delivered"}]
    assert state["states"] == {
        "Pending": sent["states"]["Pending"],
        "Processed": "2026-03-01T03:00:01.250Z",
        "Sent": "2026-03-01T03:00:05.500Z",
        "Delivered": "2026-03-01T03:00:09.000Z",
    }
    assert state["textMessage"] == {"text": "hello"} and state["deviceId"] == user["id"]


async def test_states_first_timestamp_wins(api: Api) -> None:
    user = await api.register()
    sent = await send(api, user)
    await report(api, user, [item(sent["id"], "Processed", states={"Processed": "2026-01-01T00:00:01.000Z"})])
    await report(api, user, [item(sent["id"], "Sent", states={"Processed": "2026-01-01T00:00:09.000Z",
                                                              "Sent": "2026-01-01T00:00:10.000Z"})])
    await report(api, user, [item(sent["id"], "Sent", states={"Sent": "2026-01-01T00:00:20.000Z"})])
    state = await state_of(api, user, sent["id"])
    assert state["states"]["Processed"] == "2026-01-01T00:00:01.000Z"
    assert state["states"]["Sent"] == "2026-01-01T00:00:10.000Z"


async def test_states_pending_key_does_not_shadow_processed(api: Api) -> None:
    """The phone's map is unordered: a `Pending` entry must neither overwrite `Processed` nor the creation time."""
    user = await api.register()
    sent = await send(api, user)
    await report(api, user, [item(sent["id"], "Processed", states={"Processed": "2026-01-01T00:00:05.000Z",
                                                                   "Pending": "2026-01-01T00:00:01.000Z"})])
    state = await state_of(api, user, sent["id"])
    assert state["states"] == {"Pending": sent["states"]["Pending"], "Processed": "2026-01-01T00:00:05.000Z"}


async def test_state_without_history_and_null_states(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    sent = await send(sqlite_api, user)
    await report(sqlite_api, user, [item(sent["id"], "Sent", states=None)])
    state = await state_of(sqlite_api, user, sent["id"])
    assert state["state"] == "Sent" and state["states"] == {"Pending": sent["states"]["Pending"]}


async def test_recipient_numbers_without_plus_are_matched(api: Api) -> None:
    user = await api.register()
    sent = await send(api, user, phones=[PHONE_A, PHONE_B])
    await report(api, user, [{"id": sent["id"], "state": "Sent", "recipients": [
        {"phoneNumber": PHONE_A.lstrip("+"), "state": "Sent"},
        {"phoneNumber": PHONE_B, "state": "Delivered"},
    ]}])
    state = await state_of(api, user, sent["id"])
    assert state["recipients"] == [{"phoneNumber": PHONE_A, "state": "Sent"},
                                   {"phoneNumber": PHONE_B, "state": "Delivered"}]


async def test_unmatched_recipients_are_ignored(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    sent = await send(sqlite_api, user)
    await report(sqlite_api, user, [{"id": sent["id"], "state": "Sent", "recipients": [
        {"phoneNumber": "+79995556677", "state": "Failed", "error": "nope"}]}])
    state = await state_of(sqlite_api, user, sent["id"])
    assert state["state"] == "Sent"
    assert state["recipients"] == [{"phoneNumber": PHONE_A, "state": "Pending"}]


async def test_failed_with_recipient_error(api: Api) -> None:
    user = await api.register()
    sent = await send(api, user, phones=[PHONE_A, PHONE_B])
    error = "Send result: RESULT_ERROR_GENERIC_FAILURE (Generic failure cause)"
    await report(api, user, [{"id": sent["id"], "state": "Failed", "recipients": [
        {"phoneNumber": PHONE_A, "state": "Failed", "error": error},
        {"phoneNumber": PHONE_B, "state": "Failed", "error": "e" * 256},
    ], "states": {"Processed": "2026-01-01T00:00:00.000Z", "Failed": "2026-01-01T00:00:02.000Z"}}])
    state = await state_of(api, user, sent["id"])
    assert state["state"] == "Failed"
    assert state["recipients"] == [{"phoneNumber": PHONE_A, "state": "Failed", "error": error},
                                   {"phoneNumber": PHONE_B, "state": "Failed", "error": "e" * 256}]
    assert state["states"]["Failed"] == "2026-01-01T00:00:02.000Z"

    # A later report without error clears it (the row takes what the device reports).
    await report(api, user, [item(sent["id"], "Delivered", [PHONE_A], states={})])
    recipients = (await state_of(api, user, sent["id"]))["recipients"]
    assert recipients[0] == {"phoneNumber": PHONE_A, "state": "Delivered"}


async def test_mixed_recipient_states(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    sent = await send(sqlite_api, user, phones=[PHONE_A, PHONE_B])
    await report(sqlite_api, user, [{"id": sent["id"], "state": "Processed", "recipients": [
        {"phoneNumber": PHONE_A, "state": "Sent"},
        {"phoneNumber": PHONE_B, "state": "Failed", "error": "sendSMS: invalid number", },
    ]}])
    state = await state_of(sqlite_api, user, sent["id"])
    assert state["state"] == "Processed"
    assert state["recipients"] == [
        {"phoneNumber": PHONE_A, "state": "Sent"},
        {"phoneNumber": PHONE_B, "state": "Failed", "error": "sendSMS: invalid number"},
    ]


async def test_no_transition_validation(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    sent = await send(sqlite_api, user)
    await report(sqlite_api, user, [item(sent["id"], "Delivered")])
    await report(sqlite_api, user, [item(sent["id"], "Sent")])
    assert (await state_of(sqlite_api, user, sent["id"]))["state"] == "Sent"


async def test_cancelling_reported_cancelled(api: Api) -> None:
    user = await api.register()
    sent = await send(api, user, phones=[PHONE_A, PHONE_B])
    response = await api.client.delete(f"/api/3rdparty/v1/messages/{sent['id']}",
                                       auth=(user["login"], user["password"]))
    assert response.status_code == 200, response.text
    [pulled] = await pull(api, user)
    assert pulled["id"] == sent["id"] and pulled["state"] == "Cancelling"
    await report(api, user, [item(sent["id"], "Cancelled", [PHONE_A, PHONE_B],
                                  states={"Cancelled": "2026-01-01T00:00:00.000Z"})])
    assert await pull(api, user) == []
    state = await state_of(api, user, sent["id"])
    assert state["state"] == "Cancelled"
    assert [r["state"] for r in state["recipients"]] == ["Cancelled", "Cancelled"]
    assert state["states"]["Cancelled"] == "2026-01-01T00:00:00.000Z"


async def test_unknown_ids_are_ignored(api: Api) -> None:
    user = await api.register()
    sent = await send(api, user)
    await report(api, user, [item("does-not-exist", "Sent"), item(sent["id"], "Sent"), item("x" * 36, "Failed")])
    assert (await state_of(api, user, sent["id"]))["state"] == "Sent"
    await report(api, user, [item("does-not-exist", "Sent")])
    await report(api, user, [])


async def test_device_cannot_report_another_devices_message(api: Api) -> None:
    user = await api.register()
    second = await api.register(auth=(user["login"], user["password"]))
    stranger = await api.register()
    sent = await send(api, user)
    for device in (second, stranger):
        await report(api, device, [item(sent["id"], "Failed", states={"Failed": "2026-01-01T00:00:00.000Z"})])
    state = await state_of(api, user, sent["id"])
    assert state["state"] == "Pending" and list(state["states"]) == ["Pending"]
    assert [m["id"] for m in await pull(api, user)] == [sent["id"]]


async def test_same_id_on_two_devices_reports_only_own(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    second = await sqlite_api.register(auth=(user["login"], user["password"]))
    await send(sqlite_api, user, id="shared-id")
    await send(sqlite_api, user, second, id="shared-id")
    await report(sqlite_api, second, [item("shared-id", "Sent")])
    assert [m["id"] for m in await pull(sqlite_api, user)] == ["shared-id"]
    assert await pull(sqlite_api, second) == []


async def test_report_via_alias(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    sent = await send(sqlite_api, user)
    await report(sqlite_api, user, [item(sent["id"], "Sent")], path="/messages")
    assert (await state_of(sqlite_api, user, sent["id"]))["state"] == "Sent"


def _one(**changes: Any) -> list[dict[str, Any]]:
    base: dict[str, Any] = {"id": "m1", "state": "Sent", "recipients": [{"phoneNumber": PHONE_A, "state": "Sent"}]}
    for key, value in changes.items():
        if value is ...:
            base.pop(key)
        else:
            base[key] = value
    return [base]


@pytest.mark.parametrize("body", [
    _one(recipients=[]),
    _one(recipients=...),
    _one(recipients=None),
    _one(state=...),
    _one(id="x" * 37),
    _one(id=""),
    _one(id=...),
    _one(id=5),
    _one(recipients=[{"phoneNumber": "", "state": "Sent"}]),
    _one(recipients=[{"phoneNumber": "1" * 513, "state": "Sent"}]),
    _one(recipients=[{"phoneNumber": PHONE_A}]),
    _one(recipients=[{"state": "Sent"}]),
    _one(recipients=[{"phoneNumber": PHONE_A, "state": "Failed", "error": "e" * 257}]),
    _one(states={"Sent": "yesterday"}),
    _one(states=["Sent"]),
    {"id": "m1", "state": "Sent", "recipients": [{"phoneNumber": PHONE_A, "state": "Sent"}]},
    None,
    "[]",
])
@pytest.mark.parametrize("path", ["/message", "/messages"])
async def test_report_validation(sqlite_api: Api, body: Any, path: str) -> None:
    user = await sqlite_api.register()
    await send(sqlite_api, user, id="m1")
    response = await sqlite_api.client.patch(f"{MOBILE}{path}", headers=bearer(user), json=body)
    assert_error(response, 400, "failed to validate")
    assert (await state_of(sqlite_api, user, "m1"))["state"] == "Pending"


@pytest.mark.parametrize("body", [
    _one(state="Unknown"),
    _one(state="sent"),
    _one(recipients=[{"phoneNumber": PHONE_A, "state": "Bogus"}]),
    _one(states={"Bogus": "2026-01-01T00:00:00Z"}),
])
async def test_report_with_unknown_state_is_skipped(sqlite_api: Api, body: Any) -> None:
    # Upstream answers 204: the item fails at its database write only (the others apply; see test_fidelity).
    user = await sqlite_api.register()
    await send(sqlite_api, user, id="m1")
    response = await sqlite_api.client.patch(f"{MOBILE}/message", headers=bearer(user), json=body)
    assert response.status_code == 204, response.text
    assert (await state_of(sqlite_api, user, "m1"))["state"] == "Pending"


async def test_report_invalid_item_rejects_whole_batch(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    sent = await send(sqlite_api, user)
    response = await sqlite_api.client.patch(f"{MOBILE}/message", headers=bearer(user),
                                             json=[item(sent["id"], "Sent"), {"id": "m2", "state": "Sent"}])
    assert_error(response, 400, "failed to validate")
    assert (await state_of(sqlite_api, user, sent["id"]))["state"] == "Pending"


async def test_report_malformed_json(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.client.patch(f"{MOBILE}/message", headers={**bearer(user),
                                             "Content-Type": "application/json"}, content=b"[{")
    assert_error(response, 400, "failed to parse body")


async def test_report_limits_inclusive(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    long_id = "i" * 36
    await send(sqlite_api, user, id=long_id)
    await report(sqlite_api, user, [item(long_id, "Sent")])
    assert (await state_of(sqlite_api, user, long_id))["state"] == "Sent"
