"""registration: POST /mobile/v1/device for a new user and for an existing one; GET and PATCH /device
(contract §2.3)."""

from __future__ import annotations

import pytest

from conformance.harness import Suite, blocking, body, describe, expect
from conformance.harness.accounts import basic_header, new_user_authorization, register
from conformance.harness.skips import skip

pytestmark = pytest.mark.capability("registration")

SIMS = [{"slotIndex": 0, "simNumber": 1, "phoneNumber": "******1234", "carrierName": "Conformance"}]


async def test_new_user(suite: Suite) -> None:
    response = await register(suite.http, suite.target, new_user_authorization(suite.settings, suite.target),
                              {"name": "conformance/new-user", "simCards": SIMS})
    if response.status_code == 401 and not suite.target.private_token:
        skip("prerequisite: the target refuses anonymous registration (private mode?) and no "
                    "--private-token was given")
    answer = body(expect(response, 201))
    for key in ("id", "token", "login", "password"):
        assert isinstance(answer.get(key), str) and answer[key], f"registration answer lacks {key!r}: {answer}"
    assert answer["token"] != answer["id"], "the device token must not be the device id"
    assert len(answer["password"]) >= 8, f"generated password too short: {answer['password']!r}"
    # What the answer promises, used at once: the login and password on the 3rd-party API, the token on the
    # mobile API, and both see this device.
    listed = await suite.http.get(suite.target.thirdparty + "/devices", auth=(answer["login"], answer["password"]))
    assert listed.status_code == 200, \
        f"the login and password registration returned must work at once (Basic): {describe(listed)}"
    ids = [d.get("id") for d in body(listed) if isinstance(d, dict)] if isinstance(body(listed), list) else []
    assert answer["id"] in ids, f"the new user's GET /devices does not list its device: {describe(listed)}"
    device = await suite.http.get(suite.target.mobile + "/device",
                                  headers={"Authorization": f"Bearer {answer['token']}"})
    assert device.status_code == 200, f"the device token registration returned: {describe(device)}"


async def test_join_with_basic(suite: Suite) -> None:
    first = await suite.account()
    response = await register(suite.http, suite.target, basic_header(*first.basic), {"name": "conformance/second"})
    answer = body(expect(response, 201))
    assert answer["login"] == first.login, f"joined another user: {answer}"
    assert answer["id"] != first.device_id and answer["token"] != first.token
    assert not answer.get("password"), f"a device joining a user must not get a password: {answer}"
    devices = await suite.user(first).ok("GET", "/devices", 200)
    assert {first.device_id, answer["id"]} <= {d["id"] for d in devices}, f"devices of the user: {devices}"


async def test_wrong_basic_is_401(suite: Suite) -> None:
    first = await suite.account()
    right = await register(suite.http, suite.target, basic_header(*first.basic), {"name": "conformance/right"})
    if right.status_code != 201:  # a 401 for every Basic proves nothing about wrong ones
        blocking.block(blocking.BASIC_JOIN, f"the right Basic credentials are refused too: {describe(right)}")
    response = await register(suite.http, suite.target, basic_header(first.login, "not-the-password"), {})
    expect(response, 401)


async def test_invalid_body_is_400(suite: Suite) -> None:
    response = await register(suite.http, suite.target, new_user_authorization(suite.settings, suite.target),
                              {"name": "x" * 129})
    expect(response, 400)


async def test_device_info(suite: Suite) -> None:
    account = await suite.account()
    answer = await suite.device(account).ok("GET", "/device", 200)
    assert answer.get("device", {}).get("id") == account.device_id, f"GET /device: {answer}"
    assert isinstance(answer.get("externalIp"), str) and answer["externalIp"], f"no externalIp: {answer}"
    anonymous = body(expect(await suite.http.get(suite.target.mobile + "/device"), 200))
    assert "device" not in anonymous or anonymous["device"] is None, f"a device without a token: {anonymous}"
    assert isinstance(anonymous.get("externalIp"), str)


async def test_patch_device(suite: Suite) -> None:
    account = await suite.account()
    device = suite.device(account)
    sims = [{"slotIndex": 1, "simNumber": 2, "phoneNumber": "******9876", "carrierName": "Patched"}]
    await device.ok("PATCH", "/device", 204, json={"id": account.device_id, "pushToken": "push-token-1",
                                                   "simCards": sims})
    listed = {d["id"]: d for d in await suite.user(account).ok("GET", "/devices", 200)}
    assert listed[account.device_id].get("simCards") == sims, f"SIM cards after PATCH: {listed[account.device_id]}"
    other = await suite.account(join=account)
    response = await device.patch("/device", json={"id": other.device_id, "pushToken": "push-token-2"})
    expect(response, 403)


async def test_patch_device_needs_token(suite: Suite) -> None:
    response = await suite.http.patch(suite.target.mobile + "/device", json={"id": "x", "pushToken": "y"})
    assert response.status_code == 401, describe(response)


@pytest.mark.should
@pytest.mark.extra  # a public-mode target only
async def test_public_mode_ignores_bearer(suite: Suite) -> None:
    if suite.target.private_token:
        skip("prerequisite: a public-mode target")
    response = await register(suite.http, suite.target, "Bearer whatever-token", {"name": "conformance/bearer"})
    if response.status_code == 401:
        skip("prerequisite: a public-mode target (anonymous registration was refused)")
    answer = body(expect(response, 201))
    assert answer.get("password"), f"public mode with a Bearer header must create a new user: {answer}"
