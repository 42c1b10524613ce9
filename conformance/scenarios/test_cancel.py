"""cancel: DELETE /3rdparty/v1/messages/{id} (contract §2.2.5)."""

from __future__ import annotations

import pytest

from conformance.harness import PHONE, Suite, eventually, expect, running
from conformance.harness.target import unknown_id
from conformance.harness.times import now

pytestmark = pytest.mark.capability("cancel")


async def test_cancel_pending(suite: Suite) -> None:
    account = await suite.account()
    message_id = await suite.text(account)
    answer = await suite.user(account).ok("DELETE", f"/messages/{message_id}", 200)
    assert answer.get("id") == message_id and answer.get("state") == "Cancelling", f"cancel answer: {answer}"
    found = await suite.message(account, message_id)
    assert found["state"] == "Cancelling", f"after cancelling: {found}"
    pending = {m["id"]: m for m in await suite.device(account).ok("GET", "/message", 200)}
    assert pending.get(message_id, {}).get("state") == "Cancelling", \
        f"the device must still get a Cancelling message, marked so: {pending.get(message_id)}"


async def test_phone_reports_cancelled(suite: Suite) -> None:
    sim = suite.phone()
    async with running(sim):
        account = sim.account
        message_id = await suite.text(account, "not yet", scheduleAt=now(hours=1))
        await eventually(lambda: sim.phone.store.get(message_id) is not None, suite.push_wait,
                         "the phone holding the scheduled message")
        await suite.user(account).ok("DELETE", f"/messages/{message_id}", 200)
        final = await suite.until_state(account, message_id, "Cancelled", within=suite.push_wait, sim=sim)
    assert final["recipients"][0]["state"] == "Cancelled" and "Cancelled" in final["states"], final


async def test_phone_off_while_cancelled(suite: Suite) -> None:
    """A message cancelled before the phone saw it comes as Cancelling and ends Cancelled."""
    sim = suite.phone()
    async with running(sim):
        account = sim.account
    message_id = await suite.text(account, "never seen")
    await suite.user(account).ok("DELETE", f"/messages/{message_id}", 200)
    async with running(sim):
        await suite.until_state(account, message_id, "Cancelled", within=suite.push_wait, sim=sim)


async def test_unknown_is_404(suite: Suite) -> None:
    account = await suite.account()
    await unknown_id(suite.user(account), "DELETE", "/messages/no-such-message")


async def test_not_pending_is_409(suite: Suite) -> None:
    account = await suite.account()
    message_id = await suite.text(account)
    await suite.device(account).ok("PATCH", "/message", 204, json=[{
        "id": message_id, "state": "Sent", "recipients": [{"phoneNumber": PHONE, "state": "Sent"}],
        "states": {"Sent": now()}}])
    expect(await suite.user(account).delete(f"/messages/{message_id}"), 409)
    assert (await suite.message(account, message_id))["state"] == "Sent"


async def test_cancel_twice_is_409(suite: Suite) -> None:
    account = await suite.account()
    message_id = await suite.text(account)
    await suite.user(account).ok("DELETE", f"/messages/{message_id}", 200)
    expect(await suite.user(account).delete(f"/messages/{message_id}"), 409)
