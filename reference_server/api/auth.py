"""Authentication for the 3rd-party and mobile APIs.

Basic always carries the pseudo-scope `all:any`. Bearer on the 3rd-party API is resolved by the
schemes in `Services.bearer_schemes` (the JWT scheme joins there); with none, any Bearer is 401.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, Protocol, TypeVar

from quart import g, request

from ..domain.errors import NotAuthenticated, NotPermitted
from ..domain.models import Device, Principal
from ..domain.shared_state import SharedStateUnavailable
from .context import client_ip, services

P = ParamSpec("P")
R = TypeVar("R")


class BearerScheme(Protocol):
    async def authenticate(self, token: str) -> Principal | None: ...


def authorization() -> tuple[str, str]:
    """(scheme in lower case, credentials) of the Authorization header; ("", "") when absent."""
    header = request.headers.get("Authorization", "").strip()
    scheme, _, credentials = header.partition(" ")
    return scheme.lower(), credentials.strip()


def decode_basic(credentials: str) -> tuple[str, str]:
    try:
        login, sep, password = base64.b64decode(credentials, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise NotAuthenticated("Unauthorized") from None
    if not sep:
        raise NotAuthenticated("Unauthorized")
    return login, password


async def guarded_login(check: Callable[[], Awaitable[R]]) -> R:
    """Run a credential check (Basic, private token, one-time code) under the failed-login limit of this client."""
    limiter, client = services().login_limiter, client_ip()
    await limiter.check(client)
    try:
        return await check()
    except NotAuthenticated:
        await limiter.failed(client)
        raise


async def basic_user(credentials: str) -> str:
    """The user id of Basic `credentials`; NotAuthenticated, or RateLimited past the failed-login limit."""
    accounts, limiter = services().accounts, services().login_limiter
    try:
        cached = accounts.cached_login(*decode_basic(credentials))
    except NotAuthenticated:
        cached = None  # malformed: a failed login, counted below
    if cached is not None:  # one shared-state round trip: the cached check's epoch and this client's failures
        user_id, epoch_key, epoch = cached
        try:
            current, failures, left = await accounts.state.read(epoch_key, limiter.key(client_ip()))
        except SharedStateUnavailable:
            current, failures, left = None, 0, 0.0  # checked below against the database, under a local limit
        limiter.verdict(failures, left)
        if current == epoch:
            return user_id

    async def check() -> str:
        return await accounts.authenticate_basic(*decode_basic(credentials))

    return await guarded_login(check)


async def current_principal() -> Principal:
    scheme, credentials = authorization()
    if scheme == "basic":
        return Principal(await basic_user(credentials))
    if scheme == "bearer" and credentials:
        for bearer in services().bearer_schemes:
            principal = await bearer.authenticate(credentials)
            if principal is not None:
                return principal
    raise NotAuthenticated("Unauthorized")


def user_route(scope: str, exact: bool = False) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """3rd-party route: a user whose credential allows `scope` (`exact`: `all:any` does not count)."""

    def decorate(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(handler)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            principal = await current_principal()
            if not principal.allows(scope, exact):
                raise NotPermitted(f"scope required: {scope}")
            g.principal = principal
            return await handler(*args, **kwargs)

        wrapper.required_scope = scope  # type: ignore[attr-defined]  # read by the scope-walk test
        return wrapper

    return decorate


async def optional_device() -> Device | None:
    scheme, token = authorization()
    if scheme != "bearer" or not token:
        return None
    device = await services().accounts.authenticate_device(token)
    if device is not None:
        await services().accounts.seen(device)
    return device


def device_route(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Mobile route: a device identified by its bearer token, available as `g.device`."""

    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        device = await optional_device()
        if device is None:
            raise NotAuthenticated("Unauthorized")
        g.device = device
        return await handler(*args, **kwargs)

    return wrapper
