"""What one load run is: the server, the fleet, the traffic, the reports, and this process's shard."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..report.verdict import Threshold
from .stages import Stages

MOBILE_PATH = "/api/mobile/v1"
THIRD_PARTY_PATH = "/api/3rdparty/v1"


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`: this process runs every `count`-th phone and 1/count of the traffic."""

    index: int = 1
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise ValueError(f"bad shard {self.index}/{self.count}: want 1 <= K <= N")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def devices(self, total: int) -> int:
        """How many of `total` phones this shard runs (phones K-1, K-1+N, K-1+2N, ...)."""
        return len(range(self.index - 1, total, self.count))

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`K/N`, or `N` alone with K from JOB_COMPLETION_INDEX (0-based, a Kubernetes Indexed Job's pod)."""
        if re.fullmatch(r"\s*\d+\s*", text):
            index = os.environ.get("JOB_COMPLETION_INDEX")
            if index is None or not index.strip().isdigit():
                raise ValueError(f"shard {text.strip()!r} without K needs JOB_COMPLETION_INDEX (or give K/N)")
            return cls(int(index) + 1, int(text))
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise ValueError(f"bad shard {text!r}: want K/N, e.g. 2/4")
        return cls(int(match[1]), int(match[2]))


@dataclass(frozen=True)
class RunConfig:
    server: str  # base URL, e.g. http://127.0.0.1:3000 (the API paths are appended); "" with both URLs below
    devices: int = 10  # the whole fleet, over every shard
    ramp: float = 20.0  # phones started per second
    push: Literal["sse", "fcm"] = "sse"
    rate: float = 5.0  # messages per second, over every shard
    duration: float = 30.0  # seconds of traffic, after the ramp
    grace: float = 30.0  # seconds after the last send for every message to reach a final state
    private_token: str | None = None
    phones_per_account: int = 10
    client: Literal["json", "official"] = "json"
    failure_rate: float = 0.0  # share of sends the simulated radio fails
    sent_latency: tuple[float, float] = (0.1, 0.5)
    delivered_latency: tuple[float, float] = (0.5, 2.0)
    shard: Shard = field(default_factory=Shard)
    fcm_listen: str = "127.0.0.1:0"  # where the FCM-compatible endpoint listens with push == "fcm"
    report: Path | None = None
    html: Path | None = None
    live: bool | None = None  # None: a live table when stdout is a terminal, progress lines otherwise
    max_in_flight: int = 256  # concurrent 3rd-party sends before the driver falls behind schedule
    seed: int | None = None
    thresholds: tuple[str, ...] = ()  # k6-style, e.g. "send_to_sent.p99<1s"; see verdict.py
    stages: Stages | None = None  # phones online over time; sets devices (its peak) and duration
    rate_stages: Stages | None = None  # messages per second over time; sets duration
    model: Literal["closed", "open"] = "closed"  # open: every send leaves on time, however many are in flight
    csv: str | None = None  # PREFIX of the Locust-style CSV files
    inbound_rate: float = 0.0  # SMS per second received by the fleet (fires sms:received webhooks)
    webhook_url: str | None = None  # where the webhooks go; None: the simulator's own receiver
    webhook_listen: str = "127.0.0.1:0"  # HOST:PORT of that receiver
    inbox_upload: str | None = None  # a passphrase: phones upload received SMS (POST /mobile/v1/inbox) with it
    key_version: int | None = None  # phones send a made-up public key with this keyVersion (POST/PATCH /device)
    mobile_api: str | None = None  # the mobile API's base URL; None: server + /api/mobile/v1
    thirdparty_api: str | None = None  # the 3rd-party API's base URL; None: server + /api/3rdparty/v1

    def __post_init__(self) -> None:
        if self.stages is not None:
            object.__setattr__(self, "devices", max(1, math.ceil(self.stages.peak)))
        shaped = [s.duration for s in (self.stages, self.rate_stages) if s is not None]
        if shaped:
            object.__setattr__(self, "duration", max(shaped))
        for text in self.thresholds:
            Threshold.parse(text)
        if self.inbound_rate < 0:
            raise ValueError("inbound_rate must not be negative")
        if self.devices < 1:
            raise ValueError("devices must be at least 1")
        if self.shard.devices(self.devices) < 1:
            raise ValueError(f"shard {self.shard} of {self.devices} devices has no phone")
        for name in ("ramp", "rate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.duration < 0 or self.grace < 0:
            raise ValueError("duration and grace must not be negative")
        if self.phones_per_account < 1:
            raise ValueError("phones_per_account must be at least 1")
        if not 0 <= self.failure_rate <= 1:
            raise ValueError("failure_rate must be within 0..1")
        if not self.server and not (self.mobile_api and self.thirdparty_api):
            raise ValueError("a server URL is needed, or both the mobile and the 3rd-party API URLs")
        for name, url in (("server", self.server), ("mobile URL", self.mobile_api),
                          ("3rd-party URL", self.thirdparty_api)):
            if url and not re.match(r"https?://[^/]", url):
                raise ValueError(f"the {name} must be an http:// or https:// URL, not {url!r}")

    @property
    def base_url(self) -> str:
        """The server as the report names it: --server, else the origin of the 3rd-party API's URL."""
        if self.server:
            return self.server.rstrip("/")
        match = re.match(r"https?://[^/]+", self.thirdparty_api or "")
        return match[0] if match else ""

    @property
    def mobile_url(self) -> str:
        return (self.mobile_api or self.base_url + MOBILE_PATH).rstrip("/")

    @property
    def third_party_url(self) -> str:
        return (self.thirdparty_api or self.base_url + THIRD_PARTY_PATH).rstrip("/")

    @property
    def shard_devices(self) -> int:
        return self.shard.devices(self.devices)

    @property
    def shard_rate(self) -> float:
        return self.rate / self.shard.count

    def shard_rate_stages(self) -> Stages | None:
        return None if self.rate_stages is None else self.rate_stages.scaled(1 / self.shard.count)

    def shard_online_target(self, t: float) -> int:
        """This shard's share of the phones the stages want online `t` s in: those numbered below the target."""
        assert self.stages is not None
        return self.shard.devices(round(self.stages.target(t)))
