"""password: PATCH /mobile/v1/user/password (contract §2.3). With --login the password is changed back."""

from __future__ import annotations

import pytest

from conformance.harness import Client, Suite, describe, expect
from conformance.harness.skips import skip

pytestmark = pytest.mark.capability("password")

NEW_PASSWORD = "conformance-new-password"


async def test_change(suite: Suite) -> None:
    account = await suite.account()
    device = suite.device(account)
    await device.ok("PATCH", "/user/password", 204, json={"currentPassword": account.password,
                                                         "newPassword": NEW_PASSWORD})
    try:
        old = await suite.http.get(suite.target.thirdparty + "/messages", auth=account.basic)
        assert old.status_code == 401, f"the old password must stop working: {describe(old)}"
        new = await suite.http.get(suite.target.thirdparty + "/messages", auth=(account.login, NEW_PASSWORD))
        assert new.status_code == 200, f"the new password must work: {describe(new)}"
        await device.ok("GET", "/message", 200)  # device tokens are unaffected
    finally:
        if not account.fresh:
            await device.ok("PATCH", "/user/password", 204, json={"currentPassword": NEW_PASSWORD,
                                                                 "newPassword": account.password})


async def test_wrong_current_password_is_401(suite: Suite) -> None:
    account = await suite.account()
    response = await suite.device(account).patch("/user/password", json={"currentPassword": "not-the-password",
                                                                         "newPassword": NEW_PASSWORD})
    expect(response, 401)


async def test_short_new_password_is_400(suite: Suite) -> None:
    account = await suite.account()
    response = await suite.device(account).patch("/user/password", json={"currentPassword": account.password,
                                                                         "newPassword": "short"})
    expect(response, 400)


async def test_needs_a_device_token(suite: Suite) -> None:
    response = await suite.http.patch(suite.target.mobile + "/user/password",
                                      json={"currentPassword": "x" * 14, "newPassword": NEW_PASSWORD})
    expect(response, 401)


@pytest.mark.extra  # needs the jwt capability
async def test_change_revokes_tokens(suite: Suite) -> None:
    account = await suite.fresh_account()
    response = await suite.user(account).post("/auth/token", json={"scopes": ["messages:list"]})
    if response.status_code in (404, 501):
        skip("prerequisite: JWT enabled on the target")
    token = expect(response, 201).json()
    await suite.device(account).ok("PATCH", "/user/password", 204, json={"currentPassword": account.password,
                                                                        "newPassword": NEW_PASSWORD})
    response = await Client(suite.http, suite.target.thirdparty, bearer=token["access_token"]).get("/messages")
    assert response.status_code == 401, f"tokens issued before the change must be revoked: {describe(response)}"
