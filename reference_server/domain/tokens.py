"""JWT access/refresh tokens (HS256): issue, verify, rotate, revoke (contract §2.2.1, §3.7)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from ..storage.tokens import TokenRow, TokensRepository
from .errors import InvalidInput, NotAuthenticated
from .ids import new_id
from .models import Principal

REFRESH_SCOPE = "tokens:refresh"
SCOPES = (
    "all:any", "devices:list", "devices:delete", "inbox:list", "inbox:refresh", "logs:read", "messages:cancel",
    "messages:send", "messages:read", "messages:list", "messages:export", "settings:read", "settings:write",
    "tokens:manage", "webhooks:list", "webhooks:write", "webhooks:delete", "inbox:read",
)


@dataclass
class TokenPair:
    jti: str
    access_token: str
    refresh_token: str
    expires_at: datetime


@dataclass
class JwtConfig:
    secret: str
    issuer: str
    access_ttl: timedelta
    refresh_ttl: timedelta


class TokenService:
    def __init__(self, repository: TokensRepository, config: JwtConfig,
                 clock: Callable[[], float] = time.time, count: Callable[[str, str], None] | None = None,
                 observe: Callable[[str, float], None] | None = None) -> None:
        self.repository = repository
        self.config = config
        self.clock = clock  # wall-clock seconds; tests drive it from trio's MockClock
        self._count = count or (lambda _metric, _status: None)
        self._observe = observe or (lambda _metric, _seconds: None)

    @contextmanager
    def _timed(self, operation: str) -> Iterator[None]:
        """Upstream's duration histograms: each operation is timed, failed ones included."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self._observe(operation, time.perf_counter() - started)

    async def issue(self, user_id: str, scopes: list[str], ttl_seconds: int | None = None) -> TokenPair:
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown:
            raise InvalidInput(f"failed to validate: unknown scopes: {', '.join(unknown)}")
        ttl = self.config.access_ttl
        if ttl_seconds:
            ttl = min(ttl, timedelta(seconds=ttl_seconds))
        with self._timed("issued"):
            try:
                pair = await self._new_pair(user_id, scopes, ttl, rotate=None)
            except Exception:
                self._count("issued", "error")
                raise
        self._count("issued", "success")
        return pair

    async def refresh(self, refresh_token: str) -> TokenPair:
        with self._timed("refreshed"):
            claims = await self._verified(refresh_token)
            if claims.get("scopes") != [REFRESH_SCOPE]:
                raise NotAuthenticated("Unauthorized")
            original = [str(scope) for scope in claims.get("original_scopes") or []]
            pair = await self._new_pair(claims["user_id"], original, self.config.access_ttl, rotate=claims["jti"])
        self._count("refreshed", "success")
        return pair

    async def revoke(self, user_id: str, jti: str) -> None:
        with self._timed("revoked"):
            await self.repository.revoke_family(user_id, jti)
        self._count("revoked", "success")

    async def revoke_all(self, user_id: str) -> None:
        await self.repository.revoke_all(user_id)

    async def authenticate(self, token: str) -> Principal | None:
        """A bearer scheme: the principal of a valid JWT; NotAuthenticated for a bad one."""
        claims = await self._verified(token)
        return Principal(claims["user_id"], frozenset(str(s) for s in claims.get("scopes") or []))

    async def _verified(self, token: str) -> dict[str, Any]:
        started = time.perf_counter()  # on every JWT request: no context-manager generator here
        try:
            return await self._validate(token)
        finally:
            self._observe("validated", time.perf_counter() - started)

    async def _validate(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self.config.secret, algorithms=["HS256"], issuer=self.config.issuer,
                options={"require": ["exp", "iat", "jti", "iss"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            self._count("validated", "error")
            raise NotAuthenticated("Unauthorized") from None
        row = await self.repository.get(str(claims["jti"]))
        expired = not isinstance(claims["exp"], int | float) or claims["exp"] <= self.clock()
        if expired or not claims.get("user_id") or row is None or row.revoked_at is not None:
            self._count("validated", "error")
            raise NotAuthenticated("Unauthorized")
        self._count("validated", "success")
        return claims

    async def _new_pair(self, user_id: str, scopes: list[str], ttl: timedelta, rotate: str | None) -> TokenPair:
        issued = int(self.clock())
        access_jti, refresh_jti = new_id(), new_id()
        access_exp = issued + int(ttl.total_seconds())
        refresh_exp = issued + int(self.config.refresh_ttl.total_seconds())
        base = {"iss": self.config.issuer, "sub": user_id, "user_id": user_id, "iat": issued}
        access = jwt.encode({**base, "jti": access_jti, "exp": access_exp, "scopes": scopes},
                            self.config.secret, algorithm="HS256")
        refresh = jwt.encode({**base, "jti": refresh_jti, "exp": refresh_exp, "scopes": [REFRESH_SCOPE],
                              "original_scopes": scopes}, self.config.secret, algorithm="HS256")
        access_row = TokenRow(access_jti, user_id, "access", _naive(access_exp), None)
        refresh_row = TokenRow(refresh_jti, user_id, "refresh", _naive(refresh_exp), None, parent_jti=access_jti)
        if rotate is None:
            await self.repository.insert_pair(access_row, refresh_row)
        elif not await self.repository.rotate(rotate, access_row, refresh_row):
            self._count("refreshed", "error")
            raise NotAuthenticated("Unauthorized")  # replay of a rotated refresh token
        return TokenPair(access_jti, access, refresh, _naive(access_exp))


def _naive(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)
