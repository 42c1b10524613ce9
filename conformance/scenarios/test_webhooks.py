"""webhooks: the registry (contract §2.2.9) and the WebhooksUpdated event that makes phones reload it (§4.1)."""

from __future__ import annotations

import pytest

from conformance.harness import Suite, eventually, expect, running

pytestmark = pytest.mark.capability("webhooks")

URL = "https://conformance.example.org/hooks"


async def test_create_list_delete(suite: Suite) -> None:
    account = await suite.account()
    user = suite.user(account)
    created = await user.ok("POST", "/webhooks", 201, json={"url": URL + "/sent", "event": "sms:sent"})
    assert created.get("id") and created.get("url") == URL + "/sent" and created.get("event") == "sms:sent", created
    assert created.get("deviceId") is None, f"a user-wide webhook has no deviceId: {created}"
    listed = {h["id"]: h for h in await user.ok("GET", "/webhooks", 200)}
    assert listed.get(created["id"], {}).get("url") == URL + "/sent", f"not listed: {listed}"
    await user.ok("DELETE", f"/webhooks/{created['id']}", 204)
    assert created["id"] not in {h["id"] for h in await user.ok("GET", "/webhooks", 200)}, "still listed"
    await user.ok("DELETE", f"/webhooks/{created['id']}", 204)


async def test_upsert_by_id(suite: Suite) -> None:
    account = await suite.account()
    user = suite.user(account)
    hook_id = f"hook-{account.device_id}"
    await user.ok("POST", "/webhooks", 201, json={"id": hook_id, "url": URL + "/a", "event": "sms:sent"})
    replaced = await user.ok("POST", "/webhooks", 201, json={"id": hook_id, "url": URL + "/b",
                                                             "event": "sms:delivered"})
    assert replaced.get("id") == hook_id, replaced
    mine = [h for h in await user.ok("GET", "/webhooks", 200) if h["id"] == hook_id]
    assert len(mine) == 1 and mine[0]["url"] == URL + "/b" and mine[0]["event"] == "sms:delivered", mine


@pytest.mark.parametrize("hook", [
    {"url": "http://conformance.example.org/plain", "event": "sms:sent"},
    {"url": "ftp://conformance.example.org/x", "event": "sms:sent"},
    {"url": URL, "event": "sms:unknown"},
    {"event": "sms:sent"},
    {"url": URL},
], ids=["http", "ftp", "unknown-event", "no-url", "no-event"])
async def test_invalid_is_400(suite: Suite, hook: dict[str, str]) -> None:
    account = await suite.account()
    expect(await suite.user(account).post("/webhooks", json=hook), 400)


@pytest.mark.should
async def test_https_scheme_case_insensitive(suite: Suite) -> None:
    account = await suite.account()
    await suite.user(account).ok("POST", "/webhooks", 201, json={"url": "HTTPS://conformance.example.org/up",
                                                                 "event": "sms:received"})


async def test_device_scoped(suite: Suite) -> None:
    account = await suite.account()
    other = await suite.account(join=account)
    user = suite.user(account)
    scoped = await user.ok("POST", "/webhooks", 201, json={"url": URL + "/scoped", "event": "sms:failed",
                                                           "deviceId": account.device_id})
    assert scoped.get("deviceId") == account.device_id, scoped
    wide = await user.ok("POST", "/webhooks", 201, json={"url": URL + "/wide", "event": "sms:received"})
    mine = {h["id"] for h in await suite.device(account).ok("GET", "/webhooks", 200)}
    theirs = {h["id"] for h in await suite.device(other).ok("GET", "/webhooks", 200)}
    assert {scoped["id"], wide["id"]} <= mine, f"the device's registry: {sorted(mine)}"
    assert wide["id"] in theirs and scoped["id"] not in theirs, f"another device's registry: {sorted(theirs)}"
    expect(await user.post("/webhooks", json={"url": URL, "event": "sms:sent", "deviceId": "Q" * 21}), 400)


async def test_phone_reloads_on_change(suite: Suite) -> None:
    sim = suite.phone()
    async with running(sim):
        user = suite.user(sim.account)
        created = await user.ok("POST", "/webhooks", 201, json={"url": URL + "/phone", "event": "sms:delivered"})
        await eventually(lambda: any(h.id == created["id"] for h in sim.phone.webhooks.cloud), suite.push_wait,
                         "the phone reloading its webhooks after WebhooksUpdated")
        await user.ok("DELETE", f"/webhooks/{created['id']}", 204)
        await eventually(lambda: all(h.id != created["id"] for h in sim.phone.webhooks.cloud), suite.push_wait,
                         "the phone dropping the deleted webhook")
