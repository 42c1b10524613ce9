"""private-mode: registration needs the private token; the upstream relay is not served (contract §6)."""

from __future__ import annotations

import pytest

from conformance.harness import Suite, body, describe, expect, running
from conformance.harness.accounts import basic_header, register

pytestmark = pytest.mark.capability("private-mode")


async def test_anonymous_registration_is_refused(suite: Suite) -> None:
    target = suite.private_target()
    response = await register(suite.http, target, None, {"name": "conformance/anonymous"})
    assert response.status_code == 401, describe(response)


async def test_wrong_token_is_refused(suite: Suite) -> None:
    target = suite.private_target()
    response = await register(suite.http, target, "Bearer not-the-private-token", {"name": "conformance/wrong"})
    assert response.status_code == 401, describe(response)


async def test_token_creates_a_user_and_basic_joins_it(suite: Suite) -> None:
    target = suite.private_target()
    created = body(expect(await register(suite.http, target, f"Bearer {target.private_token}", {}), 201))
    assert created.get("login") and created.get("password"), f"a new user: {created}"
    joined = body(expect(await register(suite.http, target, basic_header(created["login"], created["password"]),
                                        {}), 201))
    assert joined["login"] == created["login"] and not joined.get("password"), f"joined: {joined}"


async def test_device_token_is_not_the_private_token(suite: Suite) -> None:
    target = suite.private_target()
    response = await suite.http.get(target.mobile + "/message",
                                    headers={"Authorization": f"Bearer {target.private_token}"})
    assert response.status_code == 401, f"the private token must not act as a device token: {describe(response)}"


async def test_upstream_relay_is_not_served(suite: Suite) -> None:
    target = suite.private_target()
    response = await suite.http.post(target.upstream + "/push", json=[{"token": "t", "event": "MessageEnqueued"}])
    assert response.status_code == 404, describe(response)


async def test_phone_works_in_private_mode(suite: Suite) -> None:
    target = suite.private_target()
    sim = suite.phone(target=target)
    async with running(sim):
        account = sim.account
        assert account.fresh, "a phone registering with the private token creates a user"
        message_id = await suite.text(account, "private", target=target)
        await suite.until_state(account, message_id, "Delivered", sim=sim, target=target)
