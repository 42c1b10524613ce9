"""What one simulated phone is: how it registers, how it hears about work, its SIMs and its radio."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Latency:
    """A latency distribution in seconds: `uniform(a, b)`, `exponential(mean=a)` (+ b as a floor),
    `lognormal(mu=a, sigma=b)` or `fixed(a)`."""

    kind: Literal["uniform", "exponential", "lognormal", "fixed"] = "uniform"
    a: float = 0.0
    b: float = 0.0


LatencySpec = tuple[float, float] | Latency  # a (low, high) tuple is a uniform draw


@dataclass(frozen=True)
class RadioConfig:
    """The simulated radio. Latencies in seconds; zero means instant."""

    sent_latency: LatencySpec = (0.1, 0.5)  # from handing a part to the modem to its sent-intent
    delivered_latency: LatencySpec = (0.5, 2.0)  # from the sent-intent to each part's delivery report
    send_failure_rate: float = 0.0  # share of recipients whose sent-intent fails
    delivery_failure_rate: float = 0.0  # share of delivery reports with a permanent SC status (>= 0x40)
    seed: int | None = None
    # The SmsManager result constants a failed sent-intent carries (one is drawn per failure).
    send_errors: tuple[str, ...] = ("RESULT_ERROR_GENERIC_FAILURE",)
    smsc: str = "+12063130004"  # the service centre named in delivery-report errors
    delivery_failure_status: int = 0x41  # TP-Status of a failed delivery report
    delivery_warning_rate: float = 0.0  # reports with status 0x01..0x1F: Delivered *with* an error text
    delivery_intent_failure_rate: float = 0.0  # delivery intents with result != OK: "Delivery result: 1"
    missing_sent_uri_rate: float = 0.0  # sent-intents without the `uri` extra (issue #403): no Sent state


@dataclass(frozen=True)
class PhoneConfig:
    server: str  # the mobile API base, e.g. "http://127.0.0.1:3000/api/mobile/v1"
    name: str = "samsung/beyond0ltexx"
    # How the phone registers: "anonymous" (public server), "private" (Bearer private token),
    # "basic" (existing login/password), "code" (one-time code).
    registration: Literal["anonymous", "private", "basic", "code"] = "anonymous"
    private_token: str | None = None
    login: str | None = None
    password: str | None = None
    code: str | None = None
    push: Literal["sse", "fcm"] = "sse"
    fcm_token: str | None = None  # the phone's push token when push == "fcm" (made up when None)
    sim_cards: int = 1  # 1..3 (0: a phone without SIMs, "No SIMs found")
    passphrase: str | None = None  # end-to-end encryption
    pull_interval: float = 900.0  # the app's periodic pull (15 min)
    processing_order: Literal["lifo", "fifo"] = "lifo"
    radio: RadioConfig = field(default_factory=RadioConfig)
    webhook_ca: Path | None = None  # CA bundle trusted for https webhooks (e.g. our CA's root)
    incoming_sms_per_minute: float = 0.0
    # --- added with the full phone; all optional ---
    sim_phone_numbers: tuple[str, ...] = ()  # per slot; made up from the name when absent
    tz_offset_minutes: int = 0  # the phone's time zone: `states` and webhook times are phone-local
    signing_key: str | None = None  # webhooks.signing_key; a random 8-char id when None (as the app)
    # Local settings (the `messages`, `ping` and `webhooks` sections); GET /settings overrides them.
    send_interval_min: int | None = None
    send_interval_max: int | None = None
    limit_period: Literal["Disabled", "PerMinute", "Per30Minutes", "PerHour", "PerDay"] = "Disabled"
    limit_value: int | None = None
    sim_selection_mode: Literal["OSDefault", "RoundRobin", "Random"] = "OSDefault"
    ping_interval: float | None = None  # ping.interval_seconds: system:ping webhook + pull
    webhook_retry_count: int = 15
    local_webhooks: tuple[tuple[str, str], ...] = ()  # (event, url) registered through the local API
    cleartext_webhooks: bool = False  # the "insecure" build: http:// webhooks to any host
    app_version: str = "1.68.0"
    # The app's pending inbox upload (POST /mobile/v1/inbox, encrypted with the passphrase; needs one).
    inbox_upload: bool = False
    # The app's pending device keys (upstream PR #258): sent on POST and PATCH /device when set.
    public_key: str | None = None  # base64 RSA public key
    key_version: int | None = None  # >= 1
    seed: int | None = None  # the phone's own randomness (SIM choice, intervals, incoming SMS)


@dataclass
class Registration:
    """What the server answered to POST /device (the app stores it as REGISTRATION_INFO)."""

    device_id: str
    token: str
    login: str
    password: str | None = None
