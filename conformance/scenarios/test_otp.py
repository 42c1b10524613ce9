"""otp: one-time codes to add a device to an existing user (contract §2.3 `GET /user/code`, `Code` auth)."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.harness import Account, Suite, body, describe, expect, running
from conformance.harness.accounts import register
from conformance.harness.skips import skip
from conformance.harness.times import parse

pytestmark = pytest.mark.capability("otp")


async def user_code(suite: Suite, account: Account) -> dict[str, Any]:
    response = await suite.http.get(suite.target.mobile + "/user/code", auth=account.basic)
    if response.status_code in (404, 501):
        skip(f"missing: one-time codes are disabled on the target ({describe(response)})")
    code = body(expect(response, 200))
    assert isinstance(code.get("code"), str) and len(code["code"]) >= 6, f"code: {code}"
    parse(code.get("validUntil"))
    return dict(code)


async def test_join_with_a_code(suite: Suite) -> None:
    account = await suite.account()
    code = await user_code(suite, account)
    response = await register(suite.http, suite.target, f"Code {code['code']}", {"name": "conformance/otp"})
    joined = body(expect(response, 201))
    assert joined["login"] == account.login and not joined.get("password"), f"joined: {joined}"
    again = await register(suite.http, suite.target, f"Code {code['code']}", {"name": "conformance/otp-2"})
    assert again.status_code == 401, f"a code works once: {describe(again)}"


async def test_wrong_code_is_401(suite: Suite) -> None:
    account = await suite.account()
    await user_code(suite, account)
    response = await register(suite.http, suite.target, "Code zzzzzzzz", {})
    assert response.status_code == 401, describe(response)


async def test_code_needs_credentials(suite: Suite) -> None:
    response = await suite.http.get(suite.target.mobile + "/user/code")
    if response.status_code in (404, 501):
        skip("missing: one-time codes are disabled on the target")
    assert response.status_code == 401, describe(response)


@pytest.mark.should
async def test_code_is_case_insensitive(suite: Suite) -> None:
    account = await suite.account()
    code = await user_code(suite, account)
    response = await register(suite.http, suite.target, f"Code {code['code'].upper()}", {})
    assert response.status_code == 201, describe(response)


async def test_phone_joins_with_a_code(suite: Suite) -> None:
    account = await suite.account()
    code = await user_code(suite, account)
    sim = suite.phone(registration="code", code=code["code"])
    async with running(sim):
        assert sim.phone.registration is not None and sim.phone.registration.login == account.login
        device_id = sim.phone.registration.device_id
        message_id = await suite.text(account, "to the code-joined phone", deviceId=device_id)
        await suite.until_state(account, message_id, "Delivered", sim=sim)
