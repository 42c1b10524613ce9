"""settings: a per-user document filtered by a whitelist; PUT replaces, PATCH merges two levels; secrets never
set through the server; phones are told (contract §2.2.7, §4.1). With --login the user's document is restored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from conformance.harness import Account, Suite, describe, eventually, expect, running

pytestmark = pytest.mark.capability("settings")

BASE: dict[str, dict[str, Any]] = {
    "messages": {"send_interval_min": 5, "send_interval_max": 10, "limit_period": "PerHour", "limit_value": 100},
    "ping": {"interval_seconds": 600},
}


@pytest.fixture
async def account(suite: Suite) -> AsyncIterator[Account]:
    account = await suite.account()
    saved = None if account.fresh else await suite.device(account).ok("GET", "/settings", 200)
    yield account
    if saved is not None:
        await suite.user(account).put("/settings", json=saved)


async def test_put_replaces_and_filters(suite: Suite, account: Account) -> None:
    user = suite.user(account)
    await user.ok("PUT", "/settings", 200, json={"logs": {"lifetime_days": 9}})
    sent = {**BASE, "messages": {**BASE["messages"], "no_such_key": 1}, "no_such_section": {"a": 1}}
    answer = await user.ok("PUT", "/settings", 200, json=sent)
    assert answer == BASE, f"PUT must replace the document and drop unknown keys: {answer}"
    assert await user.ok("GET", "/settings", 200) == BASE


async def test_patch_merges_two_levels(suite: Suite, account: Account) -> None:
    user = suite.user(account)
    await user.ok("PUT", "/settings", 200, json=BASE)
    answer = await user.ok("PATCH", "/settings", 200, json={"messages": {"send_interval_max": 20},
                                                           "logs": {"lifetime_days": 3}})
    expected = {"messages": {**BASE["messages"], "send_interval_max": 20}, "ping": BASE["ping"],
                "logs": {"lifetime_days": 3}}
    assert answer == expected, f"PATCH must merge section by section, key by key: {answer}"
    assert await user.ok("GET", "/settings", 200) == expected


@pytest.mark.should
async def test_patch_stores_null(suite: Suite, account: Account) -> None:
    user = suite.user(account)
    await user.ok("PUT", "/settings", 200, json=BASE)
    answer = await user.ok("PATCH", "/settings", 200, json={"messages": {"limit_value": None}})
    assert answer["messages"] == {**BASE["messages"], "limit_value": None}, answer


@pytest.mark.should
async def test_patch_null_section_keeps_it(suite: Suite, account: Account) -> None:
    user = suite.user(account)
    await user.ok("PUT", "/settings", 200, json=BASE)
    answer = await user.ok("PATCH", "/settings", 200, json={"messages": None, "ping": {"interval_seconds": 900}})
    assert answer.get("messages") == BASE["messages"], f"a null section must leave the stored one alone: {answer}"
    assert (await user.ok("GET", "/settings", 200)).get("messages") == BASE["messages"]


@pytest.mark.should
async def test_patch_breaking_min_max_refused(suite: Suite, account: Account) -> None:
    user = suite.user(account)
    await user.ok("PUT", "/settings", 200, json=BASE)
    response = await user.patch("/settings", json={"messages": {"send_interval_min": 50}})  # max stays 10
    assert response.status_code == 400, f"a merge giving send_interval_min > max: {describe(response)}"
    assert await user.ok("GET", "/settings", 200) == BASE, "a refused PATCH must store nothing"


@pytest.mark.parametrize("document", [
    {"encryption": {"passphrase": "secret"}},
    {"webhooks": {"signing_key": "secret"}},
    {"messages": {"limit_period": "Sometimes"}},
    {"messages": {"send_interval_min": 0}},
    {"messages": {"send_interval_min": 20, "send_interval_max": 10}},
    {"messages": {"work_hours_enabled": True}},
    {"messages": {"work_hours_enabled": True, "work_hours_start": "25:00", "work_hours_end": "08:00"}},
    {"messages": "not an object"},
], ids=["passphrase", "signing-key", "limit-period", "interval-zero", "max-below-min", "work-hours-missing",
        "work-hours-bad", "section-not-object"])
async def test_invalid_is_400(suite: Suite, account: Account, document: dict[str, Any]) -> None:
    user = suite.user(account)
    expect(await user.put("/settings", json=document), 400)
    expect(await user.patch("/settings", json=document), 400)


async def test_public_view_hides_secrets(suite: Suite, account: Account) -> None:
    user = suite.user(account)
    stored = {"encryption": {"passphrase": ""}, "webhooks": {"signing_key": "", "retry_count": 3}}
    await user.ok("PUT", "/settings", 200, json=stored)
    public = await user.ok("GET", "/settings", 200)
    assert public.get("encryption") == {}, f"the encryption section must come back empty: {public}"
    assert public.get("webhooks") == {"retry_count": 3}, f"signing_key must be hidden: {public}"
    raw = await suite.device(account).ok("GET", "/settings", 200)
    assert raw.get("webhooks", {}).get("retry_count") == 3 and "encryption" in raw, f"the device's view: {raw}"


async def test_phone_reloads_on_change(suite: Suite) -> None:
    sim = suite.phone()
    async with running(sim):
        account = sim.account
        saved = None if account.fresh else await suite.device(account).ok("GET", "/settings", 200)
        try:
            await suite.user(account).ok("PATCH", "/settings", 200, json={"webhooks": {"retry_count": 7}})
            await eventually(lambda: sim.phone.settings.retry_count == 7, suite.push_wait,
                             "the phone applying settings after SettingsUpdated")
        finally:
            if saved is not None:
                await suite.user(account).put("/settings", json=saved)
