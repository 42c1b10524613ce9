"""devices: GET and DELETE /3rdparty/v1/devices; deleting cascades (contract §2.2.6, §3.6)."""

from __future__ import annotations

import pytest

from conformance.harness import Suite, describe, expect
from conformance.harness.times import parse

pytestmark = pytest.mark.capability("devices")

WEBHOOK = "https://conformance.example.org/hook"


async def test_list_devices(suite: Suite) -> None:
    account = await suite.account()
    named = await suite.account(join=account, payload={"name": "conformance/named"})
    devices = {d["id"]: d for d in await suite.user(account).ok("GET", "/devices", 200)}
    assert {account.device_id, named.device_id} <= set(devices), f"devices: {list(devices)}"
    device = devices[named.device_id]
    assert device.get("name") == "conformance/named", f"name: {device}"
    for key in ("createdAt", "updatedAt", "lastSeen"):
        parse(device.get(key))


async def test_delete_cascades(suite: Suite) -> None:
    account = await suite.account()
    doomed = await suite.account(join=account)
    user = suite.user(account)
    message_id = await suite.text(doomed, "gone with the device")
    hook = await user.ok("POST", "/webhooks", 201, json={"url": WEBHOOK, "event": "sms:sent",
                                                         "deviceId": doomed.device_id})
    expect(await user.delete(f"/devices/{doomed.device_id}"), 204)
    devices = await user.ok("GET", "/devices", 200)
    assert doomed.device_id not in {d["id"] for d in devices}, "the deleted device is still listed"
    response = await user.get(f"/messages/{message_id}")
    assert response.status_code == 404, f"its messages must go with it: {describe(response)}"
    hooks = await user.ok("GET", "/webhooks", 200)
    assert hook["id"] not in {h["id"] for h in hooks}, f"its webhooks must go with it: {hooks}"
    response = await suite.device(doomed).get("/message")
    assert response.status_code == 401, f"its token must stop working: {describe(response)}"
    assert account.device_id in {d["id"] for d in devices}, "another device of the user went too"


async def test_cannot_delete_another_users_device(suite: Suite) -> None:
    mine = await suite.fresh_account()
    theirs = await suite.fresh_account()
    response = await suite.user(mine).delete(f"/devices/{theirs.device_id}")
    assert response.status_code in (204, 404), describe(response)
    devices = await suite.user(theirs).ok("GET", "/devices", 200)
    assert theirs.device_id in {d["id"] for d in devices}, "another user deleted this device"


async def test_delete_unknown_device(suite: Suite) -> None:
    account = await suite.account()
    response = await suite.user(account).delete("/devices/" + "Z" * 21)
    assert response.status_code in (204, 404), describe(response)
