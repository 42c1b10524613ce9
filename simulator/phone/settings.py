"""The phone's settings (§2.7): local defaults from the config, overridden by the cloud's GET /settings.

Applied as the app's `SettingsService.update` does, section by section and key by key in the
document's order: numbers go through `toString().toFloat().toInt()` (so 30, 30.0 and "30" are 30),
`null` resets a key to the app's default, and a bad value (an unknown enum name, a number that is
not one, a negative limit, retry_count < 1, a non-https cloud_url) raises: the keys before it stay
applied, the rest are not, and the worker retries later. The cloud also sets the end-to-end
passphrase and the webhook signing key (`encryption`, `webhooks` sections).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import PhoneConfig

LIMIT_PERIODS = {"Disabled": 0, "PerMinute": 60, "Per30Minutes": 1800, "PerHour": 3600, "PerDay": 86400}
SIM_MODES = ("OSDefault", "RoundRobin", "Random")


@dataclass
class DeviceSettings:
    send_interval_min: int | None
    send_interval_max: int | None
    limit_period: str
    limit_value: int | None
    sim_selection_mode: str
    processing_order: str  # "lifo" | "fifo"
    ping_interval: float | None
    retry_count: int
    passphrase: str | None = None
    signing_key: str | None = None
    cloud: dict[str, Any] = field(default_factory=dict)  # gateway keys the app stores (applied at restart)

    @classmethod
    def from_config(cls, config: PhoneConfig) -> DeviceSettings:
        return cls(config.send_interval_min, config.send_interval_max, config.limit_period, config.limit_value,
                   config.sim_selection_mode, config.processing_order, config.ping_interval,
                   config.webhook_retry_count)

    @property
    def limit_seconds(self) -> int:
        """The rate-limit window, 0 when disabled (`limitEnabled`: a period and a positive value)."""
        if not self.limit_value or self.limit_value <= 0:
            return 0
        return LIMIT_PERIODS.get(self.limit_period, 0)

    @property
    def send_interval(self) -> tuple[int, int] | None:
        """`sendIntervalRange`: only when max is set and min <= max (min defaults to 0)."""
        if self.send_interval_max is None:
            return None
        low = self.send_interval_min or 0
        return (low, self.send_interval_max) if low <= self.send_interval_max else None

    def apply_cloud(self, document: dict[str, Any]) -> None:
        """ValueError (the app's IllegalArgumentException) at the first bad value."""
        for name, section in document.items():
            importer = IMPORTERS.get(name)
            if importer is not None and isinstance(section, dict):
                for key, value in section.items():
                    try:
                        importer(self, key, value)
                    except (TypeError, ValueError) as exc:
                        raise ValueError(f"Failed to import {name}: {key}: {exc}") from exc

    def _messages(self, key: str, value: Any) -> None:
        if key in ("send_interval_min", "send_interval_max"):
            setattr(self, key, _number(value))
        elif key == "limit_period":
            self.limit_period = _enum(value, tuple(LIMIT_PERIODS), "Disabled")
        elif key == "limit_value":
            limit = _number(value)
            if limit is not None and limit < 0:
                raise ValueError("Limit value must be >= 0")
            self.limit_value = limit
        elif key == "sim_selection_mode":
            self.sim_selection_mode = _enum(value, SIM_MODES, "OSDefault")
        elif key == "processing_order":
            self.processing_order = _enum(value, ("LIFO", "FIFO"), "LIFO").lower()
        elif key == "log_lifetime_days":
            days = _number(value)
            if days is not None and days < 1:
                raise ValueError("Log lifetime days must be >= 1")

    def _ping(self, key: str, value: Any) -> None:
        if key == "interval_seconds":
            seconds = _number(value)
            self.ping_interval = float(seconds) if seconds is not None and seconds > 0 else None

    def _webhooks(self, key: str, value: Any) -> None:
        if key == "retry_count":
            count = _number(value)
            count = 15 if count is None else count
            if count < 1:
                raise ValueError("Retry count must be >= 1")
            self.retry_count = count
        elif key == "signing_key":
            self.signing_key = None if value is None else _text(value)

    def _encryption(self, key: str, value: Any) -> None:
        if key == "passphrase":
            self.passphrase = None if value is None else _text(value)

    def _gateway(self, key: str, value: Any) -> None:
        if key == "cloud_url":
            url = PUBLIC_URL if value is None else _text(value)
            if not url.startswith("https://"):
                raise ValueError("url must start with https://")
            self.cloud[key] = url
        elif key == "private_token":
            self.cloud[key] = None if value is None else _text(value)
        elif key == "notification_channel":
            self.cloud[key] = _enum(value, ("AUTO", "SSE_ONLY"), "AUTO")


PUBLIC_URL = "https://api.sms-gate.app/mobile/v1"
IMPORTERS = {"messages": DeviceSettings._messages, "ping": DeviceSettings._ping,
             "webhooks": DeviceSettings._webhooks, "encryption": DeviceSettings._encryption,
             "gateway": DeviceSettings._gateway}


def _text(value: Any) -> str:
    """Kotlin's `toString()` of what Gson parsed: numbers are Doubles, booleans lower-case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value))
    return str(value)


def _number(value: Any) -> int | None:
    """`value?.toString()?.toFloat()?.toInt()`: None stays None; "abc" or true raise."""
    if value is None:
        return None
    number = float(_text(value))  # ValueError, as NumberFormatException
    if number != number:
        return 0  # NaN.toInt()
    return max(-(2**31), min(2**31 - 1, int(number))) if abs(number) != float("inf") else \
        (2**31 - 1 if number > 0 else -(2**31))


def _enum(value: Any, names: tuple[str, ...], default: str) -> str:
    """`value?.let { Enum.valueOf(it.toString()) } ?: default`: an unknown name raises."""
    if value is None:
        return default
    text = _text(value)
    if text not in names:
        raise ValueError(f"No enum constant {text}")
    return text
