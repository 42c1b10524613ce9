"""Users and their devices: registration, credentials, one-time codes, device bookkeeping."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import bcrypt
import trio

from ..storage.devices import DevicesRepository
from ..storage.users import UsersRepository
from .cache import TTLCache
from .clock import now
from .errors import InvalidInput, NotAuthenticated, NotFound, NotImplementedHere, NotPermitted
from .ids import new_id
from .models import NO_KEY, Device, DeviceKey, SimCard, User
from .shared_state import MemoryState, SharedState, SharedStateUnavailable
from .tokens import TokenService

if TYPE_CHECKING:
    from ..tasks.online import OnlineTracker

BCRYPT_ROUNDS = 10  # Go's bcrypt.DefaultCost, so hashes move freely between the two servers
OTP_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
LOGIN_CACHE_SECONDS = 3600
DEVICE_CACHE_SECONDS = 600  # upstream's in-process device-by-token cache (contract §7.1)
# An epoch outlives every entry cached under it; once it expires, entries cached under it are checked again.
EPOCH_SECONDS = 2 * max(LOGIN_CACHE_SECONDS, DEVICE_CACHE_SECONDS)


@dataclass
class Registration:
    device: Device
    login: str
    password: str | None  # only for a newly created user


@dataclass
class OtpConfig:
    enabled: bool = True
    length: int = 6
    ttl_seconds: int = 60
    retries: int = 3


def _hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def _password_matches(password: str, password_hash: str) -> bool:
    encoded = password.encode()
    if len(encoded) > 72:  # bcrypt's limit: such a password can never have been stored
        return False
    return bcrypt.checkpw(encoded, password_hash.encode())


@functools.cache
def _absent_user_hash() -> str:
    return _hash_password(secrets.token_urlsafe(16))


def _password_matches_user(password: str, user: User | None) -> bool:
    """bcrypt runs whether or not the login exists, so that the answer's timing does not tell which logins do."""
    if user is None:
        _password_matches(password, _absent_user_hash())
        return False
    return _password_matches(password, user.password_hash)


def _login_key(login: str, password: str) -> bytes:
    return hashlib.sha256(f"{login}\0{password}".encode()).digest()


def _login_epoch(login: str) -> str:
    return f"epoch:user:{_digest(login)}"


def _device_epoch(token: str) -> str:
    return f"epoch:device:{_digest(token)}"


def private_token_matches(presented: str, expected: str) -> bool:
    """Constant time in the content of both (only the lengths may show)."""
    return hmac.compare_digest(presented.encode(), expected.encode()) and bool(expected)


@dataclass
class _Check:
    """A Basic check under way; concurrent requests with the same credentials wait for its outcome."""

    done: trio.Event = field(default_factory=trio.Event)
    user_id: str | None = None
    failed: bool = False  # the credentials are wrong (not: the check was cancelled or broke)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Accounts:
    """Credentials are cached in process, each entry with the credential epoch it was checked under; the epochs
    live in the shared state (`cache.url`), so a password change or a device deletion in any process ends the
    cached entries of every process at their next use (one shared-state read per cache hit)."""

    def __init__(self, users: UsersRepository, devices: DevicesRepository, otp: OtpConfig,
                 tokens: TokenService | None = None, online: OnlineTracker | None = None,
                 state: SharedState | None = None) -> None:
        self.users = users
        self.devices = devices
        self.otp = otp
        self.tokens = tokens
        self.online = online
        self.state: SharedState = state or MemoryState()
        self._logins: TTLCache[bytes, tuple[str, str]] = TTLCache(LOGIN_CACHE_SECONDS)
        # Only a device's id, owner and last-seen time are read from it by the routes.
        self._devices: TTLCache[str, tuple[Device, str]] = TTLCache(DEVICE_CACHE_SECONDS)
        self._checking: dict[bytes, _Check] = {}  # Basic credentials being checked now

    # --- credential epochs ----------------------------------------------------------------------------
    async def _epoch_before_check(self, key: str) -> str | None:
        """The epoch to read before the database; "" when the shared state is unreachable (nothing is cached)."""
        try:
            return await self.state.get(key) or None
        except SharedStateUnavailable:
            return ""

    async def _epoch_to_cache(self, key: str, before: str | None) -> str | None:
        """The epoch a successful check may be cached under; None: do not cache.

        With no epoch before the check, one is created only if none appeared meanwhile: one that appeared was set
        by a change that may have happened after the database was read.
        """
        if before:
            return before
        if before == "":
            return None
        created = new_id()
        try:
            return created if await self.state.add(key, created, EPOCH_SECONDS) else None
        except SharedStateUnavailable:
            return None

    async def _current(self, key: str, epoch: str) -> bool:
        try:
            return await self.state.get(key) == epoch
        except SharedStateUnavailable:
            return False  # checked again against the database

    async def _changed(self, key: str) -> None:
        """A new epoch: every entry cached under the old one, in every process, is stale. May raise 503."""
        await self.state.set(key, new_id(), EPOCH_SECONDS)

    # --- credentials -------------------------------------------------------------------------------
    def cached_login(self, login: str, password: str) -> tuple[str, str, str] | None:
        """(user id, epoch key, epoch) of a cached check of these credentials, to be confirmed by the caller
        (reading the epoch in the round trip that also reads the client's failed logins); no I/O."""
        cached = self._logins.get(_login_key(login, password))
        return None if cached is None else (cached[0], _login_epoch(login), cached[1])

    async def authenticate_basic(self, login: str, password: str) -> str:
        """Returns the user id; raises NotAuthenticated.

        Concurrent requests with the same credentials share one check: a client opening its pool sends many
        at once, and each would otherwise pay for its own bcrypt before the first had filled the cache. When
        that check ends without an outcome (its request was cancelled: the client went away), a waiter checks
        again itself.
        """
        key = _login_key(login, password)
        epoch_key = _login_epoch(login)
        cached = self._logins.get(key)
        if cached is not None and await self._current(epoch_key, cached[1]):
            return cached[0]
        while (running := self._checking.get(key)) is not None:
            await running.done.wait()
            if running.user_id is not None:
                return running.user_id
            if running.failed:
                raise NotAuthenticated("Unauthorized")  # the same credentials just failed
        self._checking[key] = check = _Check()
        try:
            before = await self._epoch_before_check(epoch_key)
            user = await self.users.get(login)
            if not await trio.to_thread.run_sync(_password_matches_user, password, user) or user is None:
                check.failed = True
                raise NotAuthenticated("Unauthorized")
            epoch = await self._epoch_to_cache(epoch_key, before)
            if epoch is not None:
                self._logins.set(key, (user.id, epoch))
            check.user_id = user.id
            return user.id
        finally:
            del self._checking[key]
            check.done.set()

    async def authenticate_device(self, token: str) -> Device | None:
        """The device of a bearer token: from the cache while its epoch holds, else from the database."""
        if not token:
            return None
        epoch_key = _device_epoch(token)
        cached = self._devices.get(token)
        if cached is not None and await self._current(epoch_key, cached[1]):
            return cached[0]
        before = await self._epoch_before_check(epoch_key)
        device = await self.devices.by_token(token)
        if device is not None:
            epoch = await self._epoch_to_cache(epoch_key, before)
            if epoch is not None:
                self._devices.set(token, (device, epoch))
        return device

    async def change_password(self, user_id: str, current: str, new: str) -> None:
        """NotAuthenticated for a wrong current password (the route counts it as a failed login)."""
        if len(new.encode()) > 72:
            raise InvalidInput("failed to validate: newPassword must be at most 72 bytes")
        user = await self.users.get(user_id)
        if not await trio.to_thread.run_sync(_password_matches_user, current, user) or user is None:
            raise NotAuthenticated("failed to change password")
        new_hash = await trio.to_thread.run_sync(_hash_password, new)
        epoch_key = _login_epoch(user_id)
        await self._changed(epoch_key)  # the shared state is reachable, or 503 before anything changed
        await self.users.set_password_hash(user_id, new_hash)
        self._logins.drop_where(lambda cached: cached[0] == user_id)
        await self._changed(epoch_key)  # after the write: ends what other processes cached meanwhile
        if self.tokens is not None:  # a new password ends every session minted with the old one
            await self.tokens.revoke_all(user_id)

    # --- one-time codes -----------------------------------------------------------------------------
    async def issue_code(self, user_id: str) -> tuple[str, datetime]:
        if not self.otp.enabled:
            raise NotImplementedHere("otp disabled")
        for _ in range(max(1, self.otp.retries)):
            code = "".join(secrets.choice(OTP_ALPHABET) for _ in range(self.otp.length))
            if await self.state.add(f"otp:{code}", user_id, self.otp.ttl_seconds):
                return code, now() + timedelta(seconds=self.otp.ttl_seconds)
        raise InvalidInput("failed to generate a one-time code, try again")

    async def redeem_code(self, code: str) -> str:
        """The code's user; the code is gone for every process of the deployment once taken."""
        if not self.otp.enabled:
            raise NotImplementedHere("otp disabled")
        code = code.strip().lower()
        if not 0 < len(code) <= 64 or not code.isascii() or not code.isalnum():
            raise NotAuthenticated("Unauthorized")
        user_id = await self.state.take(f"otp:{code}")
        if user_id is None:
            raise NotAuthenticated("Unauthorized")
        return user_id

    # --- devices ------------------------------------------------------------------------------------
    async def register(self, user_id: str | None, name: str | None, push_token: str | None,
                       sim_cards: list[SimCard], key: DeviceKey = NO_KEY) -> Registration:
        """Adds a device to `user_id`, or to a new user with generated credentials when it is None."""
        moment = now()

        def device_for(owner: str) -> Device:
            return Device(id=new_id(), user_id=owner, name=name, auth_token=new_id(), push_token=push_token or None,
                          sim_cards=sim_cards, last_seen=moment, created_at=moment, updated_at=moment,
                          public_key=key.public_key, key_version=key.key_version)

        if user_id is not None:
            device = device_for(user_id)
            await self.devices.add(device)
            return Registration(device, user_id, None)
        seed = new_id()
        login, password = seed[:6].upper(), seed[7:].lower()
        device = device_for(login)
        password_hash = await trio.to_thread.run_sync(_hash_password, password)
        await self.users.create_with_device(User(login, password_hash), device)
        return Registration(device, login, password)

    async def update_device(self, device: Device, claimed_id: str, push_token: str | None,
                            sim_cards: list[SimCard], key: DeviceKey = NO_KEY) -> None:
        if claimed_id != device.id:
            raise NotPermitted("Forbidden")
        await self.devices.update(device.id, push_token, sim_cards, key)
        # The device as this process cached it would show the old key until the cache entry expires. The cache is
        # keyed by the device's token (one per device): dropping it costs the same with 10 or 100,000 phones.
        self._devices.drop(device.auth_token)

    async def list_devices(self, user_id: str) -> list[Device]:
        found = await self.devices.for_user(user_id)
        if self.online is not None:
            for device in found:
                device.last_seen = self.online.last_seen(device.id, device.last_seen)
        return found

    async def delete_device(self, user_id: str, device_id: str) -> None:
        device = await self.devices.get(user_id, device_id)
        if device is None:
            return  # 204 even when nothing matched, as upstream
        epoch_key = _device_epoch(device.auth_token)
        await self._changed(epoch_key)  # reachable, or 503 before the delete
        self._devices.drop(device.auth_token)
        await self.devices.delete(user_id, device_id)
        await self._changed(epoch_key)  # after the delete: ends what other processes cached meanwhile

    async def require_device(self, user_id: str, device_id: str) -> Device:
        device = await self.devices.get(user_id, device_id)
        if device is None:
            raise NotFound("device not found")
        return device

    async def seen(self, device: Device) -> None:
        """Every authenticated device request: batched by the online tracker, else written at once."""
        moment = now()
        if moment <= device.last_seen:
            return
        device.last_seen = moment
        if self.online is not None:
            self.online.mark(device.id, moment)
        else:
            await self.devices.touch(device.id, moment)
