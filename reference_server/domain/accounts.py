"""Users and their devices: registration, credentials, one-time codes, device bookkeeping."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
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
from .models import Device, SimCard, User
from .tokens import TokenService

if TYPE_CHECKING:
    from ..tasks.online import OnlineTracker

BCRYPT_ROUNDS = 10  # Go's bcrypt.DefaultCost, so hashes move freely between the two servers
OTP_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
LOGIN_CACHE_SECONDS = 3600
DEVICE_CACHE_SECONDS = 600  # upstream's in-process device-by-token cache (contract §7.1)


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


def private_token_matches(presented: str, expected: str) -> bool:
    """Constant time in the content of both (only the lengths may show)."""
    return hmac.compare_digest(presented.encode(), expected.encode()) and bool(expected)


class Accounts:
    def __init__(self, users: UsersRepository, devices: DevicesRepository, otp: OtpConfig,
                 tokens: TokenService | None = None, online: OnlineTracker | None = None) -> None:
        self.users = users
        self.devices = devices
        self.otp = otp
        self.tokens = tokens
        self.online = online
        self._logins: TTLCache[bytes, str] = TTLCache(LOGIN_CACHE_SECONDS)
        self._codes: TTLCache[str, str] = TTLCache(otp.ttl_seconds)
        # Only a device's id, owner and last-seen time are read from it by the routes; a device deleted here is
        # dropped at once, one deleted through another server process stays known there for up to the TTL.
        self._devices: TTLCache[str, Device] = TTLCache(DEVICE_CACHE_SECONDS)
        self._checking: dict[bytes, trio.Event] = {}  # Basic credentials being checked now

    # --- credentials -------------------------------------------------------------------------------
    async def authenticate_basic(self, login: str, password: str) -> str:
        """Returns the user id; raises NotAuthenticated.

        Concurrent requests with the same credentials share one check: a client opening its pool sends many
        at once, and each would otherwise pay for its own bcrypt before the first had filled the cache.
        """
        key = hashlib.sha256(f"{login}\0{password}".encode()).digest()
        cached = self._logins.get(key)
        if cached is not None:
            return cached
        running = self._checking.get(key)
        if running is not None:
            await running.wait()
            cached = self._logins.get(key)
            if cached is not None:
                return cached
            raise NotAuthenticated("Unauthorized")  # the same credentials just failed
        self._checking[key] = done = trio.Event()
        try:
            user = await self.users.get(login)
            if not await trio.to_thread.run_sync(_password_matches_user, password, user) or user is None:
                raise NotAuthenticated("Unauthorized")
            self._logins.set(key, user.id)
            return user.id
        finally:
            del self._checking[key]
            done.set()

    async def authenticate_device(self, token: str) -> Device | None:
        """The device of a bearer token: from the cache, else from the database (then cached)."""
        if not token:
            return None
        device = self._devices.get(token)
        if device is None:
            device = await self.devices.by_token(token)
            if device is not None:
                self._devices.set(token, device)
        return device

    async def change_password(self, user_id: str, current: str, new: str) -> None:
        if len(new.encode()) > 72:
            raise InvalidInput("failed to validate: newPassword must be at most 72 bytes")
        user = await self.users.get(user_id)
        if user is None or not await trio.to_thread.run_sync(_password_matches, current, user.password_hash):
            raise NotAuthenticated("failed to change password")
        await self.users.set_password_hash(user_id, await trio.to_thread.run_sync(_hash_password, new))
        self._logins.drop_where(lambda cached_user: cached_user == user_id)
        if self.tokens is not None:  # a new password ends every session minted with the old one
            await self.tokens.revoke_all(user_id)

    # --- one-time codes -----------------------------------------------------------------------------
    def issue_code(self, user_id: str) -> tuple[str, datetime]:
        if not self.otp.enabled:
            raise NotImplementedHere("otp disabled")
        for _ in range(max(1, self.otp.retries)):
            code = "".join(secrets.choice(OTP_ALPHABET) for _ in range(self.otp.length))
            if self._codes.set_if_absent(code, user_id):
                return code, now() + timedelta(seconds=self.otp.ttl_seconds)
        raise InvalidInput("failed to generate a one-time code, try again")

    def redeem_code(self, code: str) -> str:
        if not self.otp.enabled:
            raise NotImplementedHere("otp disabled")
        user_id = self._codes.pop(code.strip().lower())
        if user_id is None:
            raise NotAuthenticated("Unauthorized")
        return user_id

    # --- devices ------------------------------------------------------------------------------------
    async def register(self, user_id: str | None, name: str | None, push_token: str | None,
                       sim_cards: list[SimCard]) -> Registration:
        """Adds a device to `user_id`, or to a new user with generated credentials when it is None."""
        moment = now()

        def device_for(owner: str) -> Device:
            return Device(id=new_id(), user_id=owner, name=name, auth_token=new_id(), push_token=push_token or None,
                          sim_cards=sim_cards, last_seen=moment, created_at=moment, updated_at=moment)

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
                            sim_cards: list[SimCard]) -> None:
        if claimed_id != device.id:
            raise NotPermitted("Forbidden")
        await self.devices.update(device.id, push_token, sim_cards)

    async def list_devices(self, user_id: str) -> list[Device]:
        found = await self.devices.for_user(user_id)
        if self.online is not None:
            for device in found:
                device.last_seen = self.online.last_seen(device.id, device.last_seen)
        return found

    async def delete_device(self, user_id: str, device_id: str) -> None:
        self._devices.drop_where(lambda device: device.id == device_id and device.user_id == user_id)
        await self.devices.delete(user_id, device_id)  # 204 even when nothing matched, as upstream

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
