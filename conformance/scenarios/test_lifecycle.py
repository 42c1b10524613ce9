"""lifecycle: the server stores what the device reports (contract §2.3 PATCH /message, §3.2)."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.harness import FAILING_RADIO, PHONE, Account, Suite, phone_number, running, shown_number
from conformance.harness.times import now, parse

pytestmark = pytest.mark.capability("lifecycle")


def report(message_id: str, state: str, number: str, states: dict[str, str], error: str | None = None,
           recipient_state: str | None = None) -> list[dict[str, Any]]:
    recipient: dict[str, Any] = {"phoneNumber": number, "state": recipient_state or state}
    if error is not None:
        recipient["error"] = error
    return [{"id": message_id, "state": state, "recipients": [recipient], "states": states}]


async def reported(suite: Suite, account: Account, items: list[dict[str, Any]]) -> None:
    await suite.device(account).ok("PATCH", "/message", 204, json=items)


async def test_sent_then_delivered(suite: Suite) -> None:
    sim = suite.phone()
    async with running(sim):
        account = sim.account
        numbers = [phone_number(1001), phone_number(1002)]
        state = await suite.send(account, {"textMessage": {"text": "lifecycle"}, "phoneNumbers": numbers})
        final = await suite.until_state(account, state["id"], "Delivered", sim=sim)
    expected = [{"phoneNumber": shown_number(final, n), "state": "Delivered"} for n in numbers]
    assert final["recipients"] == expected, final
    history = final.get("states", {})
    assert {"Pending", "Processed", "Sent", "Delivered"} <= set(history), f"states history: {history}"
    assert parse(history["Processed"]) <= parse(history["Sent"]) <= parse(history["Delivered"]), history


async def test_failed_with_the_phone_error(suite: Suite) -> None:
    sim = suite.phone(radio=FAILING_RADIO)
    async with running(sim):
        account = sim.account
        state = await suite.send(account, {"textMessage": {"text": "doomed"}, "phoneNumbers": [PHONE]})
        final = await suite.until_state(account, state["id"], "Failed", sim=sim)
    recipient = final["recipients"][0]
    assert recipient["state"] == "Failed" and recipient.get("error"), f"the error is lost: {final}"
    assert "Failed" in final.get("states", {}), final


async def test_reported_pending_is_stored_as_processed(suite: Suite) -> None:
    account = await suite.account()
    message_id = await suite.text(account)
    await reported(suite, account, report(message_id, "Pending", PHONE, {"Pending": now()}))
    found = await suite.message(account, message_id)
    assert found["state"] == "Processed", f"a reported Pending must be stored as Processed: {found}"
    assert found["recipients"][0]["state"] == "Processed", found


async def test_first_time_of_a_state_wins(suite: Suite) -> None:
    account = await suite.account()
    message_id = await suite.text(account)
    first, second = now(seconds=-30), now()
    await reported(suite, account, report(message_id, "Sent", PHONE, {"Processed": first, "Sent": first}))
    await reported(suite, account, report(message_id, "Sent", PHONE, {"Sent": second}))
    found = await suite.message(account, message_id)
    assert parse(found["states"]["Sent"]) == parse(first), f"the first Sent time must stay: {found['states']}"


async def test_states_not_validated_and_errors_kept(suite: Suite) -> None:
    account = await suite.account()
    message_id = await suite.text(account)
    await reported(suite, account, report(message_id, "Delivered", PHONE, {"Delivered": now()}))
    await reported(suite, account, report(message_id, "Failed", PHONE, {"Failed": now()}, error="RESULT_ERROR"))
    found = await suite.message(account, message_id)
    assert found["state"] == "Failed", f"the server must store the reported state as is: {found}"
    assert found["recipients"] == [{"phoneNumber": shown_number(found, PHONE), "state": "Failed",
                                    "error": "RESULT_ERROR"}], found


async def test_unknown_ids_are_ignored(suite: Suite) -> None:
    account = await suite.account()
    await reported(suite, account, report("no-such-message", "Sent", PHONE, {"Sent": now()}))


async def test_only_own_messages_are_updated(suite: Suite) -> None:
    account = await suite.account()
    other = await suite.account(join=account)
    message_id = await suite.text(account)
    await reported(suite, other, report(message_id, "Sent", PHONE, {"Sent": now()}))
    found = await suite.message(account, message_id)
    assert found["state"] == "Pending", f"another device changed the message: {found}"


@pytest.mark.should
async def test_number_without_plus_matches(suite: Suite) -> None:
    account = await suite.account()
    message_id = await suite.text(account)
    await reported(suite, account, report(message_id, "Sent", PHONE.lstrip("+"), {"Sent": now()}))
    found = await suite.message(account, message_id)
    assert found["recipients"] == [{"phoneNumber": shown_number(found, PHONE), "state": "Sent"}], found
