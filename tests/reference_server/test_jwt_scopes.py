"""Every 3rd-party route against a JWT: without its scope (403), with it (not 403), expired (401), revoked (401).

The routes are read from the app itself, so a new route without a declared scope fails this test.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from conftest import Api, make_settings, open_api

from reference_server.app import create_app
from reference_server.domain.tokens import SCOPES

SECRET = "scope-walk-secret-scope-walk-secret"
PREFIX = "/api/3rdparty/v1"


def third_party_routes() -> list[tuple[str, str, str]]:
    """(method, path with sample ids, required scope) for every authenticated 3rd-party route."""
    app = create_app(make_settings(Path(tempfile.gettempdir()), "sqlite://", JWT__SECRET=SECRET))
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX) or "/health" in rule.rule:
            continue
        view = app.view_functions[rule.endpoint]
        scope = getattr(view, "required_scope", None)
        assert scope is not None, f"{rule.rule} declares no scope"
        path = re.sub(r"<[^>]+>", "some-id", rule.rule)
        routes += [(method, path, scope) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


ROUTES = third_party_routes()


@pytest.fixture
async def jwt_api(tmp_path: Any, sqlite_url: str, mock_clock: trio.testing.MockClock) -> Any:
    async for handle in open_api(make_settings(tmp_path, sqlite_url, JWT__SECRET=SECRET)):
        handle.services.tokens.clock = lambda: 1_900_000_000 + trio.current_time()
        yield handle


async def _pair(api: Api, user: dict[str, Any], scopes: list[str]) -> dict[str, Any]:
    response = await api.client.post(f"{PREFIX}/auth/token", json={"scopes": scopes},
                                     auth=(user["login"], user["password"]))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _call(api: Api, method: str, path: str, token: str) -> Any:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return await api.client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})


def test_the_walk_covers_the_api() -> None:
    assert len(ROUTES) >= 25  # messages, aliases, devices, settings, webhooks, inbox, logs, tokens


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
async def test_route_enforces_its_scope(jwt_api: Api, mock_clock: trio.testing.MockClock, method: str, path: str,
                                        scope: str) -> None:
    user = await jwt_api.register()
    refresh_route = scope == "tokens:refresh"
    other = [s for s in SCOPES if s not in (scope, "all:any")][:3]
    lacking = await _pair(jwt_api, user, ["all:any"] if refresh_route else other)
    granted = ["devices:list"] if refresh_route else [scope]  # any pair's refresh token holds tokens:refresh
    holding = await _pair(jwt_api, user, granted)
    lacking_token = lacking["access_token"]
    holding_token = holding["refresh_token"] if refresh_route else holding["access_token"]

    denied = await _call(jwt_api, method, path, lacking_token)
    assert denied.status_code == 403, denied.text
    assert denied.json() == {"message": f"scope required: {scope}"}

    allowed = await _call(jwt_api, method, path, holding_token)
    assert allowed.status_code not in (401, 403), allowed.text

    revoked = await _pair(jwt_api, user, granted)
    revoked_token = revoked["refresh_token"] if refresh_route else revoked["access_token"]
    await jwt_api.client.delete(f"{PREFIX}/auth/token/{revoked['id']}", auth=(user["login"], user["password"]))
    assert (await _call(jwt_api, method, path, revoked_token)).status_code == 401

    expiring = await _pair(jwt_api, user, granted)
    mock_clock.jump(31 * 24 * 3600)  # past both the access TTL (15m) and the refresh TTL (720h)
    expiring_token = expiring["refresh_token"] if refresh_route else expiring["access_token"]
    assert (await _call(jwt_api, method, path, expiring_token)).status_code == 401
