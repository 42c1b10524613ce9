"""jwt: access and refresh tokens, and the scope every 3rd-party route requires (contract §1.5, §2.2.1)."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.harness import PHONE, Account, Client, Suite, describe, expect
from conformance.harness.skips import skip
from conformance.harness.times import parse

pytestmark = pytest.mark.capability("jwt")

# (method, path, body, the scope the route needs)
ROUTES: list[tuple[str, str, Any, str]] = [
    ("GET", "/messages", None, "messages:list"),
    ("POST", "/messages", {"textMessage": {"text": "jwt"}, "phoneNumbers": [PHONE]}, "messages:send"),
    ("GET", "/messages/no-such-id", None, "messages:read"),
    ("DELETE", "/messages/no-such-id", None, "messages:cancel"),
    ("GET", "/devices", None, "devices:list"),
    ("DELETE", "/devices/no-such-device-id-xx", None, "devices:delete"),
    ("GET", "/settings", None, "settings:read"),
    ("PATCH", "/settings", {}, "settings:write"),
    ("GET", "/webhooks", None, "webhooks:list"),
    ("POST", "/webhooks", {"url": "https://conformance.example.org/jwt", "event": "sms:sent"}, "webhooks:write"),
    ("DELETE", "/webhooks/no-such-hook", None, "webhooks:delete"),
    ("POST", "/auth/token", {"scopes": ["tokens:manage"]}, "tokens:manage"),  # only scopes the token holds
]


async def issue(suite: Suite, account: Account, scopes: list[str], **extra: Any) -> dict[str, Any]:
    response = await suite.user(account).post("/auth/token", json={"scopes": scopes, **extra})
    if response.status_code in (404, 501):
        skip(f"missing: JWT is disabled on the target ({describe(response)})")
    token = expect(response, 201).json()
    for key in ("id", "access_token", "refresh_token", "expires_at"):
        assert isinstance(token.get(key), str) and token[key], f"token answer lacks {key!r}: {token}"
    assert str(token.get("token_type", "")).lower() == "bearer", f"token_type: {token}"
    return dict(token)


def bearer(suite: Suite, token: str) -> Client:
    return Client(suite.http, suite.target.thirdparty, bearer=token)


async def test_issue_and_use(suite: Suite) -> None:
    account = await suite.account()
    token = await issue(suite, account, ["messages:send", "messages:read", "messages:list"])
    parse(token["expires_at"])
    client = bearer(suite, token["access_token"])
    sent = await client.ok("POST", "/messages", 202, json={"textMessage": {"text": "with a JWT"},
                                                            "phoneNumbers": [PHONE], "deviceId": account.device_id})
    found = await client.ok("GET", f"/messages/{sent['id']}", 200)
    assert found["id"] == sent["id"]


@pytest.mark.parametrize(("method", "path", "payload", "scope"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
async def test_scope_enforced(suite: Suite, method: str, path: str, payload: Any, scope: str) -> None:
    account = await suite.account()
    if isinstance(payload, dict) and path == "/messages":
        payload = {**payload, "deviceId": account.device_id}
    other_scope = "logs:read" if scope != "logs:read" else "inbox:list"
    wrong = await issue(suite, account, [other_scope])
    response = await bearer(suite, wrong["access_token"]).request(method, path, json=payload)
    assert response.status_code == 403, f"{method} {path} without {scope}: {describe(response)}"
    right = await issue(suite, account, [scope])
    response = await bearer(suite, right["access_token"]).request(method, path, json=payload)
    assert response.status_code not in (401, 403), f"{method} {path} with {scope}: {describe(response)}"


async def test_refresh_rotates(suite: Suite) -> None:
    account = await suite.account()
    token = await issue(suite, account, ["messages:list"])
    renewed = await bearer(suite, token["refresh_token"]).ok("POST", "/auth/token/refresh", 201)
    assert renewed.get("access_token") and renewed.get("refresh_token"), renewed
    assert renewed["refresh_token"] != token["refresh_token"], "the refresh token must rotate"
    await bearer(suite, renewed["access_token"]).ok("GET", "/messages", 200)
    replay = await bearer(suite, token["refresh_token"]).post("/auth/token/refresh")
    assert replay.status_code == 401, f"a used refresh token must be refused: {describe(replay)}"


async def test_refresh_needs_a_refresh_token(suite: Suite) -> None:
    account = await suite.account()
    token = await issue(suite, account, ["tokens:manage"])
    response = await bearer(suite, token["access_token"]).post("/auth/token/refresh")
    assert response.status_code in (401, 403), f"an access token must not refresh: {describe(response)}"
    response = await suite.user(account).post("/auth/token/refresh")
    assert response.status_code in (401, 403), f"Basic must not refresh: {describe(response)}"
    response = await bearer(suite, token["refresh_token"]).get("/messages")
    assert response.status_code in (401, 403), f"a refresh token is not an access token: {describe(response)}"


async def test_revoke(suite: Suite) -> None:
    account = await suite.account()
    token = await issue(suite, account, ["messages:list"])
    await bearer(suite, token["access_token"]).ok("GET", "/messages", 200)
    await suite.user(account).ok("DELETE", f"/auth/token/{token['id']}", 204)
    response = await bearer(suite, token["access_token"]).get("/messages")
    assert response.status_code == 401, f"a revoked access token: {describe(response)}"
    response = await bearer(suite, token["refresh_token"]).post("/auth/token/refresh")
    assert response.status_code == 401, f"the refresh token issued with it: {describe(response)}"


async def test_garbage_token_is_401(suite: Suite) -> None:
    response = await bearer(suite, "not.a.jwt").get("/messages")
    if response.status_code == 501:
        skip("missing: JWT is disabled on the target")
    assert response.status_code == 401, describe(response)


async def test_tokens_belong_to_their_user(suite: Suite) -> None:
    mine = await suite.fresh_account()
    theirs = await suite.fresh_account()
    token = await issue(suite, mine, ["messages:read", "devices:list"])
    message_id = await suite.text(theirs)
    response = await bearer(suite, token["access_token"]).get(f"/messages/{message_id}")
    assert response.status_code == 404, f"another user's message through a JWT: {describe(response)}"
    devices = await bearer(suite, token["access_token"]).ok("GET", "/devices", 200)
    assert {d["id"] for d in devices} == {mine.device_id}, f"devices through a JWT: {devices}"


@pytest.mark.should
async def test_cannot_mint_scopes_it_lacks(suite: Suite) -> None:
    """A JWT with tokens:manage mints tokens only within its own scopes (no escalation through minting)."""
    account = await suite.account()
    token = await issue(suite, account, ["tokens:manage", "messages:list"])
    minter = bearer(suite, token["access_token"])
    response = await minter.post("/auth/token", json={"scopes": ["devices:delete"]})
    assert response.status_code == 403, f"a JWT minted a scope it does not hold: {describe(response)}"
    await minter.ok("POST", "/auth/token", 201, json={"scopes": ["messages:list"]})
