"""The simulated radio: how a text is split into parts, and what the modem reports back.

`divide_message` follows `SmsManager.divideMessage`: GSM-7 (basic table; extension characters take
two septets and are never split) up to 160 septets in one part, else 153 per part; anything outside
GSM-7 goes as UCS-2, 70 UTF-16 units in one part, else 67 per part (surrogate pairs kept whole).
`Radio.outcome` draws what the sent- and delivery-intents of one recipient will carry, with the
app's exact error strings (`MessagesService.processStateIntent`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .config import Latency, LatencySpec, RadioConfig

GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = set("\f^{}\\[~]|€")

# SmsManager result constants -> (code, the app's description), from MessagesService.resultToErrorMessage.
SEND_RESULTS: dict[str, tuple[int, str]] = {
    "RESULT_ERROR_GENERIC_FAILURE": (1, "Generic failure cause"),
    "RESULT_ERROR_RADIO_OFF": (2, "Failed because radio was explicitly turned off"),
    "RESULT_ERROR_NULL_PDU": (3, "Failed because no PDU provided"),
    "RESULT_ERROR_NO_SERVICE": (4, "Failed because service is currently unavailable"),
    "RESULT_ERROR_LIMIT_EXCEEDED": (5, "Failed because we reached the sending queue limit"),
    "RESULT_ERROR_FDN_CHECK_FAILURE": (6, "Failed because FDN is enabled"),
    "RESULT_ERROR_SHORT_CODE_NOT_ALLOWED": (7, "Failed because user denied the sending of this short code"),
    "RESULT_ERROR_SHORT_CODE_NEVER_ALLOWED": (
        8, "Failed because the user has denied this app ever send premium short codes"),
    "RESULT_RADIO_NOT_AVAILABLE": (9, "Failed because the radio was not available"),
    "RESULT_NETWORK_REJECT": (10, "Failed because of network rejection"),
    "RESULT_INVALID_ARGUMENTS": (11, "Failed because of invalid arguments"),
    "RESULT_INVALID_STATE": (12, "Failed because of an invalid state"),
    "RESULT_NO_MEMORY": (13, "Failed because there is no memory"),
    "RESULT_INVALID_SMS_FORMAT": (14, "Failed because the SMS format is not valid"),
    "RESULT_SYSTEM_ERROR": (15, "Failed because of a system error"),
    "RESULT_MODEM_ERROR": (16, "Failed because of a modem error"),
    "RESULT_NETWORK_ERROR": (17, "Failed because of a network error"),
    "RESULT_ENCODING_ERROR": (18, "Failed because of an encoding error"),
    "RESULT_INVALID_SMSC_ADDRESS": (19, "Failed because of an invalid SMSC address"),
    "RESULT_OPERATION_NOT_ALLOWED": (20, "Failed because the operation is not allowed"),
    "RESULT_INTERNAL_ERROR": (21, "Failed because of an internal error"),
    "RESULT_NO_RESOURCES": (22, "Failed because there are no resources"),
    "RESULT_CANCELLED": (23, "Failed because the operation was cancelled"),
    "RESULT_REQUEST_NOT_SUPPORTED": (24, "Failed because the request is not supported"),
    "RESULT_RIL_NETWORK_REJECT": (102, "The SMS request was rejected by the network"),
    "RESULT_RIL_GENERIC_ERROR": (124, "A RIL error occurred during the SMS send"),
}


def send_result_error(constant: str) -> str:
    if constant not in SEND_RESULTS:
        code = int(constant) if constant.lstrip("-").isdigit() else -1
        return f"Send result: Unknown error code: {code}."
    return f"Send result: {constant} ({SEND_RESULTS[constant][1]})"


def is_gsm7(text: str) -> bool:
    return all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text)


def divide_message(text: str) -> list[str]:
    if is_gsm7(text):
        units = [(ch, 2 if ch in GSM_EXTENSION else 1) for ch in text]
        single, multi = 160, 153
    else:
        units = []
        for ch in text:  # a Python char outside the BMP is one surrogate pair: kept in one part
            units.append((ch, 2 if ord(ch) > 0xFFFF else 1))
        single, multi = 70, 67
    if sum(size for _, size in units) <= single:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch, size in units:
        if used + size > multi:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += size
    if current:
        parts.append("".join(current))
    return parts


@dataclass
class Outcome:
    """What one recipient's intents will carry. Times are seconds after the parts were handed over."""

    sent_at: float
    send_error: str | None = None  # "Send result: ..." when the sent-intent fails
    sent_uri: bool = True  # False: the broadcast lacks `uri`, so no Sent state (issue #403)
    # One per part when a delivery report was requested: (seconds, state, error).
    deliveries: list[tuple[float, str, str | None]] = field(default_factory=list)


class LazyRandom:
    """`random.Random(seed)`, made at its first use (the same sequence): a Mersenne Twister holds 2.5 KB, a tenth
    of what an idle phone's SSE stream costs, and an idle phone draws nothing."""

    __slots__ = ("_seed", "_random")

    def __init__(self, seed: int | None) -> None:
        self._seed = seed
        self._random: random.Random | None = None

    def __getattr__(self, name: str) -> object:
        if self._random is None:
            self._random = random.Random(self._seed)
        return getattr(self._random, name)


def lazy_random(seed: int | None) -> random.Random:
    return LazyRandom(seed)  # type: ignore[return-value]  # stands in for the Random it makes


class Radio:
    def __init__(self, config: RadioConfig) -> None:
        self.config = config
        self.random = lazy_random(config.seed)

    def draw(self, spec: LatencySpec) -> float:
        if isinstance(spec, tuple):
            low, high = spec
            return self.random.uniform(low, high) if high > low else max(low, 0.0)
        return max(0.0, _draw(self.random, spec))

    def outcome(self, parts: int, with_delivery_report: bool) -> Outcome:
        cfg, rnd = self.config, self.random
        sent_at = self.draw(cfg.sent_latency)
        if rnd.random() < cfg.send_failure_rate:
            return Outcome(sent_at, send_error=send_result_error(rnd.choice(cfg.send_errors)))
        outcome = Outcome(sent_at, sent_uri=rnd.random() >= cfg.missing_sent_uri_rate)
        if with_delivery_report:
            for _ in range(parts):
                at = sent_at + self.draw(cfg.delivered_latency)
                roll = rnd.random()
                if roll < cfg.delivery_failure_rate:
                    error = f"Delivery result from SC {cfg.smsc}: {cfg.delivery_failure_status}"
                    outcome.deliveries.append((at, "Failed", error))
                elif roll < cfg.delivery_failure_rate + cfg.delivery_intent_failure_rate:
                    outcome.deliveries.append((at, "Failed", "Delivery result: 1"))
                elif roll < cfg.delivery_failure_rate + cfg.delivery_intent_failure_rate + cfg.delivery_warning_rate:
                    outcome.deliveries.append((at, "Delivered", f"Delivery result from SC {cfg.smsc}: 1"))
                else:
                    outcome.deliveries.append((at, "Delivered", None))
            outcome.deliveries.sort(key=lambda d: d[0])
        return outcome


def _draw(rnd: random.Random, spec: Latency) -> float:
    if spec.kind == "fixed":
        return spec.a
    if spec.kind == "exponential":
        return spec.b + (rnd.expovariate(1 / spec.a) if spec.a > 0 else 0.0)
    if spec.kind == "lognormal":
        return rnd.lognormvariate(spec.a, spec.b)
    return rnd.uniform(spec.a, spec.b)
