"""Registration (`RegistrationWorker`): POST /device once, PATCH /device on every later start, and
register again *anonymously* when that PATCH answers 401 (contract: device protocol §1.2-1.4).

Joining an existing account (Basic or Code) is the app's sign-in screen: it registers WITHOUT the
push token, then the start that follows sends the token with PATCH /device (`updateDevice`), as a
rotated FCM token is sent (`PushService.onNewToken`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .api import ApiError, GatewayApi, basic
from .config import PhoneConfig, Registration

CARRIERS = ("T-Mobile", "Vodafone", "Orange")


@dataclass(frozen=True)
class SimCard:
    slot_index: int  # 0-based
    phone_number: str
    carrier_name: str
    iccid: str

    @property
    def sim_number(self) -> int:
        return self.slot_index + 1

    def view(self, redacted: bool) -> dict[str, Any]:
        hide = mask if redacted else (lambda value: value)
        return {"slotIndex": self.slot_index, "simNumber": self.sim_number, "phoneNumber": hide(self.phone_number),
                "carrierName": hide(self.carrier_name), "iccid": hide(self.iccid)}


def mask(value: str) -> str:
    """The app's redaction: all but the last 4 characters become `*`; 4 or fewer become `****`."""
    return "****" if len(value) <= 4 else "*" * (len(value) - 4) + value[-4:]


def sim_cards(config: PhoneConfig) -> list[SimCard]:
    cards = []
    for slot in range(max(0, min(config.sim_cards, 3))):
        digest = hashlib.sha256(f"{config.name}/{config.seed}/{slot}".encode()).hexdigest()
        digits = str(int(digest[:15], 16))[-10:].rjust(10, "0")
        number = config.sim_phone_numbers[slot] if slot < len(config.sim_phone_numbers) else f"+1555{digits[:7]}"
        iccid = "8901" + str(int(digest[15:35], 16))[:15].rjust(15, "0")
        cards.append(SimCard(slot, number, CARRIERS[slot % len(CARRIERS)], iccid))
    return cards


def first_authorization(config: PhoneConfig) -> str | None:
    if config.registration == "basic":
        return basic(config.login or "", config.password or "")
    if config.registration == "code":
        return f"Code {config.code}"
    return anonymous_authorization(config)


def anonymous_authorization(config: PhoneConfig) -> str | None:
    """Anonymous mode: nothing on a public server, `Bearer <private token>` on a private one."""
    return f"Bearer {config.private_token}" if config.private_token else None


async def register(api: GatewayApi, config: PhoneConfig, current: Registration | None, push_token: str | None,
                   cards: list[SimCard]) -> tuple[Registration, bool]:
    """Returns the registration to keep and whether it is new (POST) rather than updated (PATCH)."""
    sims = [card.view(redacted=True) for card in cards]
    authorization = first_authorization(config)
    if current is not None:
        api.token = current.token
        try:
            await update_device(api, current, push_token, cards, device_key(config))
            return current, False
        except ApiError as exc:
            if exc.status != 401:
                raise
        authorization = anonymous_authorization(config)
    api.token = None
    joining = current is None and joins_without_token(config)
    answer = await api.register(authorization, {"name": config.name, "pushToken": None if joining else push_token,
                                                "simCards": sims, **device_key(config)})
    registration = Registration(device_id=str(answer["id"]), token=str(answer["token"]),
                                login=str(answer.get("login", "")), password=answer.get("password"))
    api.token = registration.token
    return registration, True


def joins_without_token(config: PhoneConfig) -> bool:
    """Signing in to an existing account: POST /device without the push token, then `update_device`."""
    return config.registration in ("basic", "code")


def device_key(config: PhoneConfig) -> dict[str, Any]:
    """The app's pending device keys: `publicKey`/`keyVersion` when configured, else nothing (absent = unchanged
    on the server, so a phone without keys sends exactly what the released app sends)."""
    key: dict[str, Any] = {}
    if config.public_key is not None:
        key["publicKey"] = config.public_key
    if config.key_version is not None:
        key["keyVersion"] = config.key_version
    return key


async def update_device(api: GatewayApi, registration: Registration, push_token: str | None,
                        cards: list[SimCard], key: dict[str, Any] | None = None) -> None:
    """`GatewayService.updateDevice`: PATCH /device {id, pushToken, simCards} (+ the device key when set)."""
    sims = [card.view(redacted=True) for card in cards]
    await api.patch_device({"id": registration.device_id, "pushToken": push_token, "simCards": sims, **(key or {})})
