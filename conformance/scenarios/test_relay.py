"""relay: the upstream push relay, both sides (contract §2.4, §4.5)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio

from conformance.harness import Suite, describe, eventually, running
from conformance.harness.skips import skip

pytestmark = pytest.mark.capability("relay")


async def relay_post(suite: Suite, items: list[dict[str, Any]]) -> httpx.Response:
    """POST /upstream/v1/push; a 429 (5 requests a minute per client IP) is waited out once."""
    response = await suite.http.post(suite.target.upstream + "/push", json=items)
    if response.status_code == 429:
        await trio.sleep(min(float(response.headers.get("retry-after") or 60), 61))
        response = await suite.http.post(suite.target.upstream + "/push", json=items)
    return response


async def test_public_relay_reaches_the_phone(suite: Suite) -> None:
    if suite.target.private_token:
        skip("prerequisite: a public-mode --server")
    hub = suite.fcm_hub()
    sim = suite.fcm_phone()
    async with running(sim):
        await trio.sleep(0.5)
        response = await relay_post(suite, [{"token": sim.push_token, "event": "WebhooksUpdated", "data": None}])
        assert response.status_code == 202, describe(response)
        await eventually(lambda: "WebhooksUpdated" in hub.fcm_events(sim.push_token), suite.push_wait,
                         "the relayed push reaching the phone through FCM")


async def test_public_relay_validates(suite: Suite) -> None:
    if suite.target.private_token:
        skip("prerequisite: a public-mode --server")
    response = await relay_post(suite, [])
    assert response.status_code == 400, describe(response)
    response = await relay_post(suite, [{"token": "t", "event": "NoSuchEvent"}])
    assert response.status_code == 400, describe(response)


async def test_private_server_relays(suite: Suite) -> None:
    target = suite.private_target()
    hub = suite.relay_hub()
    sim = suite.phone(target=target, push="fcm")
    async with running(sim):
        await trio.sleep(0.5)
        account = sim.account
        message_id = await suite.text(account, "relayed", target=target)
        await eventually(lambda: any(i.get("event") == "MessageEnqueued" for i in hub.relayed(sim.push_token)),
                         suite.push_wait, "the private server relaying MessageEnqueued upstream")
        await suite.until_state(account, message_id, "Delivered", within=suite.push_wait, sim=sim, target=target)
    items = hub.relayed(sim.push_token)
    assert all(set(item) <= {"token", "event", "data"} for item in items), f"relayed items: {items}"


# Last in this module: it leaves the relay route rate-limited for this client for up to a minute.
@pytest.mark.should
async def test_429_carries_retry_after(suite: Suite) -> None:
    """A 429 says when to come back: Retry-After, a whole number of seconds (RFC 9110 §10.2.3)."""
    if suite.target.private_token:
        skip("prerequisite: a public-mode --server")
    async with httpx.AsyncClient(timeout=suite.settings.request_timeout) as raw:  # sees the 429 itself
        for _ in range(20):
            response = await raw.post(suite.target.upstream + "/push", json=[])
            if response.status_code == 429:
                break
    assert response.status_code == 429, f"20 relay pushes a moment apart were never limited: {describe(response)}"
    value = response.headers.get("retry-after", "")
    assert value.isdigit() and int(value) > 0, f"a 429 without a usable Retry-After ({value!r}): {describe(response)}"
