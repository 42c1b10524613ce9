"""Upstream behaviours a careful user of the Go server relies on (each check names the capability it belongs to)."""

from __future__ import annotations

import pytest

from conformance.harness import PHONE, Suite, describe, expect


@pytest.mark.capability("lifecycle")
async def test_a_report_with_an_unknown_state_keeps_the_others(suite: Suite) -> None:
    """Upstream answers 204 and applies the other items: one odd field never loses a phone's report."""
    account = await suite.account()
    odd, good = await suite.text(account, "odd"), await suite.text(account, "good")
    recipients = [{"phoneNumber": PHONE, "state": "Sent"}]
    response = await suite.device(account).request("PATCH", "/message", json=[
        {"id": odd, "state": "Teleported", "recipients": recipients},
        {"id": good, "state": "Sent", "recipients": recipients}])
    expect(response, 204)
    assert (await suite.message(account, good))["state"] == "Sent", "the valid item of the batch was not applied"


@pytest.mark.capability("errors")
async def test_answers_carry_the_request_id(suite: Suite) -> None:
    """Upstream's answers, errors included, carry X-Request-ID, echoing the client's."""
    echoed = await suite.http.get(suite.target.thirdparty + "/messages", headers={"X-Request-ID": "conformance-1"})
    assert echoed.headers.get("X-Request-ID") == "conformance-1", f"X-Request-ID not echoed: {describe(echoed)}"
    made = await suite.http.get(suite.target.thirdparty + "/messages")
    assert made.headers.get("X-Request-ID"), f"no X-Request-ID: {describe(made)}"


@pytest.mark.capability("send")
async def test_body_keys_match_in_any_letter_case(suite: Suite) -> None:
    """Go's decoder matches `PhoneNumbers` to `phoneNumbers`: upstream accepts such a message."""
    account = await suite.account()
    response = await suite.user(account).post("/messages", json={"TextMessage": {"Text": "any case"},
                                                                 "PhoneNumbers": [PHONE]})
    expect(response, 202)
