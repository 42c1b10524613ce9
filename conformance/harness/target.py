"""The server under test, seen from outside: its URLs, and thin HTTP clients for the integrator (3rd-party
API) and for a device (mobile API) whose failures say what was asked and what came back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from ..settings import Settings
from . import repro


def moved(url: str, old_root: str, new_root: str) -> str:
    """`url` with the main server's root replaced by another instance's (a URL elsewhere stays as it is)."""
    return new_root + url[len(old_root):] if url.startswith(old_root) else url


@dataclass(frozen=True)
class Target:
    root: str  # scheme://host:port, where /health lives
    api: str  # root + api path
    private_token: str | None = None
    mobile_base: str = ""  # the mobile API's base URL (default: api + /mobile/v1)
    thirdparty_base: str = ""  # the 3rd-party API's base URL (default: api + /3rdparty/v1)

    @property
    def thirdparty(self) -> str:
        return self.thirdparty_base or self.api + "/3rdparty/v1"

    @property
    def mobile(self) -> str:
        return self.mobile_base or self.api + "/mobile/v1"

    @property
    def upstream(self) -> str:
        return self.api + "/upstream/v1"

    @classmethod
    def main(cls, settings: Settings) -> Target:
        token = settings.private_token if not settings.private_server else None
        return cls(settings.server.rstrip("/"), settings.api, token, settings.mobile, settings.thirdparty)

    @classmethod
    def at(cls, settings: Settings, root: str, token: str | None) -> Target:
        """Another instance of the same implementation: the same paths under its root."""
        server, root = settings.server.rstrip("/"), root.rstrip("/")
        return cls(root, moved(settings.api, server, root), token, moved(settings.mobile, server, root),
                   moved(settings.thirdparty, server, root))

    @classmethod
    def others(cls, settings: Settings) -> list[Target]:
        """The deployment's other URLs (`--server A --server B`): the same API paths, the same token."""
        token = cls.main(settings).private_token
        return [cls.at(settings, url, token) for url in settings.also]

    @classmethod
    def private(cls, settings: Settings) -> Target | None:
        """The private-mode target: --private-server, else --server when a private token is given."""
        if not settings.private_token:
            return None
        if settings.private_server:
            return cls.at(settings, settings.private_server, settings.private_token)
        return cls.main(settings)


MAX_INLINE = 300  # body characters in a one-line failure message (the report shows the response in full)


def describe(response: httpx.Response) -> str:
    request = response.request
    try:
        content = request.content
    except httpx.RequestNotRead:
        content = b""
    repro.described(request.method, str(request.url), request.headers, content,
                    repro.answer(response.status_code, response.reason_phrase, response.headers, response.text))
    body = repro.mask(response.text)  # a token in an answer is a secret in a CI log
    shown = body if len(body) <= MAX_INLINE else body[:MAX_INLINE] + f"... ({len(body) - MAX_INLINE} more characters)"
    return f"{request.method} {request.url} -> {response.status_code} {shown!r}"


def expect(response: httpx.Response, *statuses: int) -> httpx.Response:
    assert response.status_code in statuses, f"expected {' or '.join(map(str, statuses))}: {describe(response)}"
    return response


def body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AssertionError(f"not JSON ({exc}): {describe(response)}") from None


def error_body(response: httpx.Response, status: int) -> str:
    """The contract's error (§1.3): `status`, `application/json`, `{"message": "..."}`; its message."""
    assert response.status_code == status, f"expected {status}: {describe(response)}"
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith("application/json"), f"error Content-Type {content_type!r}: {describe(response)}"
    document = body(response)
    assert isinstance(document, dict) and isinstance(document.get("message"), str) and document["message"], \
        f"error body is not {{\"message\": \"...\"}}: {describe(response)}"
    if "code" in document:
        assert isinstance(document["code"], int), f"`code` must be an integer: {describe(response)}"
    return str(document["message"])


async def unknown_id(client: Client, method: str, path: str) -> None:
    """An unknown id: the route exists (without credentials it asks for them: 401) and, authenticated, answers
    the contract's JSON 404 (any 404, say a router's plain "Not Found" for a missing route, is not that)."""
    anonymous = await client.http.request(method, client.base + path)
    assert anonymous.status_code == 401, f"{method} {path} without credentials must ask for them (401) before " \
                                         f"it looks the id up: {describe(anonymous)}"
    error_body(await client.request(method, path), 404)


class Client:
    """Requests under one base URL with one Authorization (Basic tuple, a `Bearer` token or a raw header)."""

    def __init__(self, http: httpx.AsyncClient, base: str, *, basic: tuple[str, str] | None = None,
                 bearer: str | None = None, authorization: str | None = None) -> None:
        self.http = http
        self.base = base
        self.basic = basic
        self.headers: dict[str, str] = {}
        if bearer is not None:
            self.headers["Authorization"] = f"Bearer {bearer}"
        if authorization is not None:
            self.headers["Authorization"] = authorization

    async def request(self, method: str, path: str, *, json: Any = None, params: Any = None,
                      headers: dict[str, str] | None = None, content: bytes | None = None) -> httpx.Response:
        return await self.http.request(method, self.base + path, json=json, params=params, content=content,
                                       headers={**self.headers, **(headers or {})},
                                       auth=self.basic if self.basic is not None else httpx.USE_CLIENT_DEFAULT)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, **kw)

    async def put(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("PUT", path, **kw)

    async def patch(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("PATCH", path, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kw)

    async def ok(self, method: str, path: str, status: int, **kw: Any) -> Any:
        """The request, which must answer `status`; its JSON body (None when empty)."""
        response = expect(await self.request(method, path, **kw), status)
        return body(response) if response.content else None
