"""The phone's settings (§2.7): local defaults from the config, overridden by the cloud's GET /settings.

The cloud never sets the passphrase or the signing key; unknown or ill-typed values are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
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
        messages = _section(document, "messages")
        for key in ("send_interval_min", "send_interval_max", "limit_value"):
            if _is_int(messages.get(key)):
                setattr(self, key, messages[key])
        if messages.get("limit_period") in LIMIT_PERIODS:
            self.limit_period = messages["limit_period"]
        if messages.get("sim_selection_mode") in SIM_MODES:
            self.sim_selection_mode = messages["sim_selection_mode"]
        if messages.get("processing_order") in ("LIFO", "FIFO"):
            self.processing_order = messages["processing_order"].lower()
        ping = _section(document, "ping")
        if _is_int(ping.get("interval_seconds")):
            self.ping_interval = float(ping["interval_seconds"]) or None
        webhooks = _section(document, "webhooks")
        if _is_int(webhooks.get("retry_count")):
            self.retry_count = webhooks["retry_count"]


def _section(document: dict[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name)
    return value if isinstance(value, dict) else {}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
