"""device-keys: a device's end-to-end key and longer recipients (upstream PR #258, not yet released)."""

from __future__ import annotations

import base64

import pytest

from conformance.harness import Account, Suite, describe, expect
from conformance.harness.skips import skip

pytestmark = pytest.mark.capability("device-keys")

KEY = base64.b64encode(b"conformance-device-key-" + bytes(range(64))).decode()
ROTATED = base64.b64encode(b"conformance-rotated-key").decode()


async def shown(suite: Suite, account: Account, device_id: str) -> dict[str, object]:
    devices = expect(await suite.user(account).get("/devices"), 200).json()
    found = [d for d in devices if isinstance(d, dict) and d.get("id") == device_id]
    assert found, f"device {device_id} not listed: {devices}"
    return dict(found[0])


async def test_key_on_registration_and_rotation(suite: Suite) -> None:
    account = await suite.account(payload={"name": "conformance", "publicKey": KEY, "keyVersion": 1})
    device = await shown(suite, account, account.device_id)
    if "publicKey" not in device:
        skip(f"missing: the target does not keep device keys ({device})")
    assert (device.get("publicKey"), device.get("keyVersion")) == (KEY, 1), f"the key as registered: {device}"
    mine = expect(await suite.device(account).get("/device"), 200).json().get("device", {})
    assert (mine.get("publicKey"), mine.get("keyVersion")) == (KEY, 1), f"GET /mobile/v1/device: {mine}"
    expect(await suite.device(account).patch("/device", json={"id": account.device_id, "publicKey": ROTATED,
                                                              "keyVersion": 2}), 204)
    expect(await suite.device(account).patch("/device", json={"id": account.device_id}), 204)  # absent: unchanged
    device = await shown(suite, account, account.device_id)
    assert (device.get("publicKey"), device.get("keyVersion")) == (ROTATED, 2), f"after rotation: {device}"


async def test_a_bad_key_version_is_refused(suite: Suite) -> None:
    account = await suite.account(payload={"name": "conformance", "publicKey": KEY, "keyVersion": 1})
    if "publicKey" not in await shown(suite, account, account.device_id):
        skip("missing: the target does not keep device keys")
    response = await suite.device(account).patch("/device", json={"id": account.device_id, "keyVersion": 0})
    assert response.status_code == 400, f"keyVersion 0 (the minimum is 1): {describe(response)}"


async def test_recipients_up_to_512_characters(suite: Suite) -> None:
    account = await suite.account()
    sealed = "S" * 512  # the ciphertext of a number: encrypted recipients are not parsed
    response = await suite.user(account).post("/messages", json={
        "deviceId": account.device_id, "textMessage": {"text": "sealed"}, "phoneNumbers": [sealed],
        "isEncrypted": True})
    if response.status_code == 400:
        skip(f"missing: recipients are capped below 512 characters ({describe(response)})")
    expect(response, 202)
    assert response.json()["recipients"][0]["phoneNumber"] == sealed, describe(response)
