"""What makes the server answer exactly what openapi/smsgate.yaml declares, where plain `st run` found gaps:
routes of switched-off features answer a declared 404 (an undeclared method still gets 405), `/auth/token/refresh`
is not also a token id, and a 204 carries no content type."""

from __future__ import annotations

from typing import Any

import httpx
from conftest import Api, error_of, make_settings, open_api


def _allowed(response: httpx.Response) -> set[str]:
    return {method.strip() for method in response.headers["Allow"].split(",")}


async def test_docs_routes_answer_404_when_off_and_405_for_other_methods(tmp_path: Any, sqlite_url: str) -> None:
    async for api in open_api(make_settings(tmp_path, sqlite_url, HTTP__OPENAPI__ENABLED="false")):
        for path in ("/api", "/api/docs", "/api/docs/doc.json", "/api/docs/swagger-ui.css"):
            assert error_of(await api.client.get(path), 404) == "Not Found"
            response = await api.client.request("TRACE", path)
            assert response.status_code == 405 and "GET" in response.headers["Allow"]


async def test_relay_route_answers_404_in_private_mode_and_405_for_other_methods(tmp_path: Any,
                                                                                 sqlite_url: str) -> None:
    settings = make_settings(tmp_path, sqlite_url, GATEWAY__MODE="private", GATEWAY__PRIVATE_TOKEN="t" * 20)
    async for api in open_api(settings):
        assert error_of(await api.client.post("/api/upstream/v1/push", json=[]), 404) == "Not Found"
        response = await api.client.request("TRACE", "/api/upstream/v1/push")
        assert response.status_code == 405 and _allowed(response) == {"OPTIONS", "POST"}


async def test_refresh_is_not_a_token_id(tmp_path: Any, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, sqlite_url, JWT__SECRET="s" * 32)
    async for api in open_api(settings):
        user = await api.register()
        auth = (user["login"], user["password"])
        allowed = await api.client.options("/api/3rdparty/v1/auth/token/refresh", auth=auth)
        assert _allowed(allowed) == {"OPTIONS", "POST"}
        assert (await api.client.delete("/api/3rdparty/v1/auth/token/refresh", auth=auth)).status_code == 405
        assert (await api.client.delete("/api/3rdparty/v1/auth/token/not-a-jti", auth=auth)).status_code == 204


async def test_no_content_has_no_content_type(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    response = await sqlite_api.client.delete(f"/api/3rdparty/v1/devices/{user['id']}",
                                              auth=(user["login"], user["password"]))
    assert response.status_code == 204 and "content-type" not in response.headers
