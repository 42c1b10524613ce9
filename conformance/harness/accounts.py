"""Users and devices for the scenarios: each scenario registers its own (a new user per account on a public
server or with the private token; a new device of the configured user when --login/--password are given)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx

from ..settings import Settings
from . import blocking
from .target import Client, Target, body, describe


@dataclass(frozen=True)
class Account:
    login: str
    password: str
    device_id: str
    token: str
    fresh: bool  # True: a user of its own, created for this account

    @property
    def basic(self) -> tuple[str, str]:
        return (self.login, self.password)


def basic_header(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def new_user_authorization(settings: Settings, target: Target) -> str | None:
    """How this target creates a new user's device: the private token, or nothing (public mode)."""
    return f"Bearer {target.private_token}" if target.private_token else None


async def register(http: httpx.AsyncClient, target: Target, authorization: str | None,
                   payload: dict[str, Any] | None = None) -> httpx.Response:
    headers = {"Authorization": authorization} if authorization else {}
    return await http.post(target.mobile + "/device", json=payload if payload is not None else {"name": "conformance"},
                           headers=headers)


def how(authorization: str | None, target: Target) -> str:
    """The auth method of a registration, for failure messages."""
    if not authorization:
        return "new user, anonymous (public mode)"
    scheme = authorization.split(" ", 1)[0]
    if scheme == "Basic":
        return "Basic join of an existing user"
    if scheme == "Code":
        return "Code join (one-time code)"
    return "new user, with the private token (Bearer)" if target.private_token else f"{scheme} authorization"


async def new_account(http: httpx.AsyncClient, settings: Settings, target: Target, *, join: Account | None = None,
                      payload: dict[str, Any] | None = None) -> Account:
    """A registered device: of `join`'s user, of the configured user, or of a new user. A registration that fails,
    or a new user whose returned password is refused, blocks the check (the root cause is registration)."""
    authorization: str | None
    if join is not None:
        authorization, password, fresh = basic_header(*join.basic), join.password, False
    elif settings.login and settings.password and target.root == settings.server.rstrip("/"):
        authorization, password, fresh = basic_header(settings.login, settings.password), settings.password, False
    else:
        authorization, password, fresh = new_user_authorization(settings, target), "", True
    response = await register(http, target, authorization, payload)
    if response.status_code != 201:
        root = blocking.BASIC_JOIN if authorization and authorization.startswith("Basic") else blocking.NEW_USER
        blocking.block(root, f"registration failed ({how(authorization, target)}): {describe(response)}")
    answer = body(response)
    if fresh:
        password = answer.get("password") or ""
        if not password:
            blocking.block(blocking.NEW_USER,
                           f"a new user's registration must return its password: {describe(response)}")
    account = Account(str(answer["login"]), password, str(answer["id"]), str(answer["token"]), fresh)
    if fresh:
        await prove(http, target, account)
    return account


async def prove(http: httpx.AsyncClient, target: Target, account: Account) -> None:
    """The login and password a registration returned are used at once: refused, they block the check."""
    key = f"{account.login}:{account.password}"
    if blocking.proven(key):
        return
    response = await http.get(target.thirdparty + "/devices", auth=account.basic)
    if response.status_code == 401:
        blocking.block(blocking.NEW_USER, "the login and password registration returned are refused (Basic on the "
                                          f"3rd-party API): {describe(response)}")
    blocking.note_proven(key)


def user_client(http: httpx.AsyncClient, target: Target, account: Account) -> Client:
    return Client(http, target.thirdparty, basic=account.basic)


def device_client(http: httpx.AsyncClient, target: Target, account: Account) -> Client:
    return Client(http, target.mobile, bearer=account.token)
