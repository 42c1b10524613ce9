"""JWT tokens: issue, scopes, refresh rotation and replay, revocation, expiry (on a MockClock), 501 when off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
import trio.testing
from conftest import Api, make_settings, open_api

SECRET = "s3cret-s3cret-s3cret-s3cret-s3cret!"
START = 1_900_000_000.0


@pytest.fixture
async def jwt_api(tmp_path: Any, database_url: str, mock_clock: trio.testing.MockClock) -> AsyncIterator[Api]:
    settings = make_settings(tmp_path, database_url, JWT__SECRET=SECRET, JWT__ACCESS_TTL="15m",
                             JWT__REFRESH_TTL="720h")
    async for handle in open_api(settings):
        handle.services.tokens.clock = lambda: START + trio.current_time()  # wall time that the MockClock moves
        yield handle


async def issue(api: Api, user: dict[str, Any], scopes: list[str], **extra: Any) -> dict[str, Any]:
    response = await api.client.post("/api/3rdparty/v1/auth/token", json={"scopes": scopes, **extra},
                                     auth=(user["login"], user["password"]))
    assert response.status_code == 201, response.text
    return dict(response.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_issue_answers_both_key_spellings(jwt_api: Api) -> None:
    user = await jwt_api.register()
    pair = await issue(jwt_api, user, ["messages:send"])
    assert pair["token_type"] == pair["tokenType"] == "Bearer"
    assert pair["access_token"] == pair["accessToken"] and pair["refresh_token"] == pair["refreshToken"]
    assert pair["expires_at"] == pair["expiresAt"] and len(pair["id"]) == 21


async def test_token_sends_with_its_scope_and_is_refused_without(jwt_api: Api) -> None:
    user = await jwt_api.register()
    pair = await issue(jwt_api, user, ["messages:send"])
    body = {"textMessage": {"text": "hi"}, "phoneNumbers": ["+79990001122"]}
    sent = await jwt_api.client.post("/api/3rdparty/v1/messages", json=body, headers=bearer(pair["access_token"]))
    assert sent.status_code == 202, sent.text
    listed = await jwt_api.client.get("/api/3rdparty/v1/messages", headers=bearer(pair["access_token"]))
    assert listed.status_code == 403
    assert listed.json() == {"message": "scope required: messages:list"}


async def test_ttl_is_capped_by_access_ttl(jwt_api: Api, mock_clock: trio.testing.MockClock) -> None:
    user = await jwt_api.register()
    short = await issue(jwt_api, user, ["devices:list"], ttl=60)
    long = await issue(jwt_api, user, ["devices:list"], ttl=10**6)

    async def devices_status(token: str) -> int:
        return (await jwt_api.client.get("/api/3rdparty/v1/devices", headers=bearer(token))).status_code

    mock_clock.jump(61)
    assert await devices_status(short["accessToken"]) == 401
    assert await devices_status(long["accessToken"]) == 200
    mock_clock.jump(15 * 60)
    assert await devices_status(long["accessToken"]) == 401


@pytest.mark.parametrize("body", [{"scopes": []}, {"scopes": [""]}, {"scopes": ["nope:nope"]}, {"scopes": ["all:any"],
                                  "ttl": -1}, {"ttl": 5}, {"scopes": "all:any"}])
async def test_bad_token_requests_are_400(jwt_api: Api, body: dict[str, Any]) -> None:
    user = await jwt_api.register()
    response = await jwt_api.client.post("/api/3rdparty/v1/auth/token", json=body,
                                         auth=(user["login"], user["password"]))
    assert response.status_code == 400, response.text
    assert "message" in response.json()


async def test_refresh_rotates_and_rejects_replay(jwt_api: Api, mock_clock: trio.testing.MockClock) -> None:
    user = await jwt_api.register()
    first = await issue(jwt_api, user, ["devices:list"], ttl=30)
    refresh = "/api/3rdparty/v1/auth/token/refresh"
    mock_clock.jump(20 * 60)  # the access token is long expired; the refresh token is not
    second = await jwt_api.client.post(refresh, headers=bearer(first["refresh_token"]))
    assert second.status_code == 201, second.text
    new = second.json()
    assert new["id"] != first["id"]
    devices = await jwt_api.client.get("/api/3rdparty/v1/devices", headers=bearer(new["access_token"]))
    assert devices.status_code == 200  # original scopes, the configured access TTL (not the asked 30 s)
    mock_clock.jump(60)
    assert (await jwt_api.client.get("/api/3rdparty/v1/devices",
                                     headers=bearer(new["access_token"]))).status_code == 200
    replay = await jwt_api.client.post(refresh, headers=bearer(first["refresh_token"]))
    assert replay.status_code == 401
    # The replay does not revoke the rest of the family.
    assert (await jwt_api.client.post(refresh, headers=bearer(new["refresh_token"]))).status_code == 201


async def test_refresh_needs_exactly_the_refresh_scope(jwt_api: Api) -> None:
    user = await jwt_api.register()
    pair = await issue(jwt_api, user, ["all:any"])
    refresh = "/api/3rdparty/v1/auth/token/refresh"
    with_basic = await jwt_api.client.post(refresh, auth=(user["login"], user["password"]))
    assert with_basic.status_code == 403
    assert with_basic.json() == {"message": "scope required: tokens:refresh"}
    assert (await jwt_api.client.post(refresh, headers=bearer(pair["access_token"]))).status_code == 403
    # A refresh token opens nothing but the refresh route.
    devices = await jwt_api.client.get("/api/3rdparty/v1/devices", headers=bearer(pair["refresh_token"]))
    assert devices.status_code == 403


async def test_revoking_the_access_jti_revokes_its_refresh_token(jwt_api: Api) -> None:
    user = await jwt_api.register()
    pair = await issue(jwt_api, user, ["devices:list", "tokens:manage"])
    other = await issue(jwt_api, user, ["devices:list"])
    revoked = await jwt_api.client.delete(f"/api/3rdparty/v1/auth/token/{pair['id']}",
                                          headers=bearer(pair["access_token"]))
    assert revoked.status_code == 204
    assert (await jwt_api.client.get("/api/3rdparty/v1/devices",
                                     headers=bearer(pair["access_token"]))).status_code == 401
    assert (await jwt_api.client.post("/api/3rdparty/v1/auth/token/refresh",
                                      headers=bearer(pair["refresh_token"]))).status_code == 401
    assert (await jwt_api.client.get("/api/3rdparty/v1/devices",
                                     headers=bearer(other["access_token"]))).status_code == 200
    unknown = await jwt_api.client.delete("/api/3rdparty/v1/auth/token/unknown-jti",
                                          auth=(user["login"], user["password"]))
    assert unknown.status_code == 204


async def test_another_users_jti_is_not_revoked(jwt_api: Api) -> None:
    alice, bob = await jwt_api.register(), await jwt_api.register()
    alice_pair = await issue(jwt_api, alice, ["devices:list"])
    await jwt_api.client.delete(f"/api/3rdparty/v1/auth/token/{alice_pair['id']}", auth=(bob["login"], bob["password"]))
    assert (await jwt_api.client.get("/api/3rdparty/v1/devices",
                                     headers=bearer(alice_pair["access_token"]))).status_code == 200


async def test_password_change_revokes_jwts(jwt_api: Api) -> None:
    user = await jwt_api.register()
    pair = await issue(jwt_api, user, ["devices:list"])
    changed = await jwt_api.client.patch("/api/mobile/v1/user/password", headers=bearer(user["token"]),
                                         json={"currentPassword": user["password"], "newPassword": "n" * 16})
    assert changed.status_code == 204
    assert (await jwt_api.client.get("/api/3rdparty/v1/devices",
                                     headers=bearer(pair["access_token"]))).status_code == 401


async def test_tampered_and_foreign_tokens_are_401(jwt_api: Api) -> None:
    import jwt as pyjwt

    user = await jwt_api.register()
    pair = await issue(jwt_api, user, ["devices:list"])
    claims = pyjwt.decode(pair["access_token"], options={"verify_signature": False})
    forged = pyjwt.encode({**claims, "scopes": ["all:any"]}, "another-secret-another-secret-xx", algorithm="HS256")
    for token in (forged, pair["access_token"][:-2] + "xx", "not-a-jwt"):
        response = await jwt_api.client.get("/api/3rdparty/v1/devices", headers=bearer(token))
        assert response.status_code == 401, token


async def test_jwt_disabled_answers_501_and_bearer_401(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.client.post("/api/3rdparty/v1/auth/token", json={"scopes": ["all:any"]},
                                            auth=(user["login"], user["password"]))
    assert response.status_code == 501
    assert response.json() == {"message": "token service disabled, contact your administrator"}
    assert (await sqlite_api.client.get("/api/3rdparty/v1/devices", headers=bearer("x.y.z"))).status_code == 401


async def test_metrics_count_tokens(jwt_api: Api) -> None:
    user = await jwt_api.register()
    await issue(jwt_api, user, ["devices:list"])
    text = (await jwt_api.client.get("/metrics")).text
    assert 'sms_auth_jwt_tokens_issued_total{status="success"} 1.0' in text


