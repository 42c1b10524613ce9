"""encryption: isEncrypted messages pass through the server verbatim; the phone decrypts them (contract §2.2.2,
device protocol §2.5)."""

from __future__ import annotations

import pytest

from conformance.harness import Suite, running
from simulator.phone import encrypt_text

pytestmark = pytest.mark.capability("encryption")

PASSPHRASE = "conformance passphrase"
ITERATIONS = 10_000


def encrypted(plain: str, passphrase: str = PASSPHRASE) -> str:
    return encrypt_text(passphrase, plain, ITERATIONS)


async def test_stored_and_served_verbatim(suite: Suite) -> None:
    account = await suite.account()
    number, text = encrypted("+79990005555"), encrypted("secret text")
    state = await suite.send(account, {"textMessage": {"text": text}, "phoneNumbers": [number], "isEncrypted": True})
    assert state.get("isEncrypted") is True, f"isEncrypted lost: {state}"
    assert [r["phoneNumber"] for r in state["recipients"]] == [number], f"ciphertext number altered: {state}"
    stored = await suite.message(account, state["id"])
    assert stored.get("textMessage") == {"text": text} and stored.get("isEncrypted") is True, stored
    pending = {m["id"]: m for m in await suite.device(account).ok("GET", "/message", 200)}
    item = pending.get(state["id"])
    assert item is not None, "the device does not get the encrypted message"
    assert item.get("phoneNumbers") == [number] and item.get("textMessage") == {"text": text}, item
    assert item.get("isEncrypted") is True, f"the device is not told the message is encrypted: {item}"


async def test_phone_decrypts_and_sends(suite: Suite) -> None:
    sim = suite.phone(passphrase=PASSPHRASE)
    async with running(sim):
        account = sim.account
        number = encrypted("+79990005557")
        state = await suite.send(account, {"textMessage": {"text": encrypted("for your eyes")},
                                           "phoneNumbers": [number], "isEncrypted": True})
        final = await suite.until_state(account, state["id"], "Delivered", sim=sim)
    assert final["recipients"] == [{"phoneNumber": number, "state": "Delivered"}], final


async def test_phone_without_the_passphrase_fails(suite: Suite) -> None:
    # (A wrong passphrase is no deterministic test: one decryption in a few hundred unpads by chance.)
    sim = suite.phone()
    async with running(sim):
        account = sim.account
        state = await suite.send(account, {"textMessage": {"text": encrypted("x")},
                                           "phoneNumbers": [encrypted("+79990005558")], "isEncrypted": True})
        final = await suite.until_state(account, state["id"], "Failed", sim=sim)
    recipient = final["recipients"][0]
    assert recipient["state"] == "Failed" and recipient.get("error"), f"the phone's error is lost: {final}"
