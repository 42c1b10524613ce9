"""The app's `GatewayApi`: the mobile API calls, with its headers and Gson bodies.

Every non-2xx answer raises `ApiError` (Ktor's `expectSuccess=true`); the callers retry as the
app's WorkManager jobs do.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from . import gson

JSON = "application/json; charset=UTF-8"


class ApiError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status}: {text[:200]}")
        self.status = status


class GatewayApi:
    def __init__(self, http: httpx.AsyncClient | None, base_url: str, app_version: str) -> None:
        self.http = http  # None until the phone's run() opens its own
        self.base = base_url.rstrip("/")
        self.user_agent = f"me.capcom.smsgateway/{app_version}"
        self.token: str | None = None

    def _headers(self, authorization: str | None = None, body: bool = False) -> dict[str, str]:
        headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        if authorization is None and self.token:
            authorization = f"Bearer {self.token}"
        if authorization:
            headers["Authorization"] = authorization
        if body:
            headers["Content-Type"] = JSON
        return headers

    async def _call(self, method: str, path: str, body: Any = None, authorization: str | None = None,
                    params: dict[str, str] | None = None) -> httpx.Response:
        content = None if body is None else gson.dumps(body).encode()
        assert self.http is not None, "no HTTP client yet"
        response = await self.http.request(method, self.base + path, content=content, params=params,
                                           headers=self._headers(authorization, body is not None))
        if not response.is_success:
            raise ApiError(response.status_code, response.text)
        return response

    async def register(self, authorization: str | None, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._call("POST", "/device", body, authorization=authorization or "")
        return dict(response.json())

    async def patch_device(self, body: dict[str, Any]) -> None:
        await self._call("PATCH", "/device", body)

    async def messages(self, order: str) -> list[dict[str, Any]]:
        response = await self._call("GET", "/message", params={"order": order})
        return list(response.json())

    async def patch_messages(self, items: list[dict[str, Any]]) -> None:
        await self._call("PATCH", "/message", items)

    async def webhooks(self) -> list[dict[str, Any]]:
        return list((await self._call("GET", "/webhooks")).json())

    async def upload_inbox(self, items: list[dict[str, Any]]) -> None:
        await self._call("POST", "/inbox", items)

    async def settings(self) -> dict[str, Any]:
        document = (await self._call("GET", "/settings")).json()
        return document if isinstance(document, dict) else {}


def shared_client(phones: int, timeout: float = 30.0) -> httpx.AsyncClient:
    """One client for many phones: each SSE phone holds a connection open, and pulls and reports
    need more; httpx's default pool (100) would make the 101st phone wait."""
    limits = httpx.Limits(max_connections=3 * phones + 20, max_keepalive_connections=2 * phones + 20)
    return httpx.AsyncClient(timeout=timeout, limits=limits)


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()
