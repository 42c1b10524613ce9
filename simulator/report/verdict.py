"""The run's verdict: default checks (every phone registered and came online, no send failed, nothing lost
or stuck, no state report for a message the run never sent) and the user's thresholds, k6-style:
`--threshold 'send_to_sent.p99<1s' --threshold 'send_errors<1%'`. The reasons come root cause first: an
API that answered nothing but 404, then phones, then sends, then messages.

A threshold on a metric replaces that metric's default check, so `send_errors<1%` tolerates a few
failed sends where the default tolerates none. The verdict is computed from a report alone, so a
merge of shards gets the same verdict as one run.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .apis import hints

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
}
# count metric -> how it reads, "{n} of {total}" filled in; `%` divides by the total
COUNTS: dict[str, str] = {
    "send_errors": "{n} of {total} sends not accepted",
    "rejected": "{n} of {total} sends rejected",
    "unanswered": "{n} of {total} sends unanswered",
    "lost": "{n} of {total} accepted messages lost",
    "stuck": "{n} of {total} accepted messages stuck",
    "unknown_events": "{n} state reports for messages this run never sent",
    "late": "{n} of {total} sends late",
    "phones_failed": "{n} of {total} phones failed to register",
    "phones_offline": "{n} of {total} registered phones never came online",
    "inbound_lost": "{n} of {total} received SMS never reached the webhook",
}
LATENCIES = {"send_to_processed": "Processed", "send_to_sent": "Sent", "send_to_delivered": "Delivered",
             "receive_to_webhook": "webhook"}
STATS = ("min", "mean", "p50", "p95", "p99", "max")
DEFAULTS = ("phones_failed==0", "phones_offline==0", "send_errors==0", "lost==0", "stuck==0", "unknown_events==0")
PATTERN = re.compile(r"\s*([a-z_]+)(?:\.([a-z0-9()]+))?\s*(<=|>=|==|!=|<|>)\s*(\d+(?:\.\d+)?)\s*(%|ms|s)?\s*")


@dataclass(frozen=True)
class Threshold:
    text: str
    metric: str
    stat: str | None
    op: str
    limit: float  # a count, a share (0..1) with `%`, or milliseconds for latencies
    percent: bool

    @classmethod
    def parse(cls, text: str) -> Threshold:
        match = PATTERN.fullmatch(text)
        if not match:
            raise ValueError(f"bad threshold {text!r}: want METRIC[.STAT]OP VALUE[%|ms|s], e.g. lost==0, "
                             "send_errors<1%, send_to_sent.p99<1s")
        metric, stat, op, number, unit = match.groups()
        limit = float(number)
        if stat:
            stat = {"avg": "mean", "med": "p50"}.get(stat, re.sub(r"p\((\d+)\)", r"p\1", stat))
        if metric in LATENCIES:
            if stat not in STATS:
                raise ValueError(f"threshold {text!r}: {metric} needs one of .{', .'.join(STATS)}")
            if unit == "%":
                raise ValueError(f"threshold {text!r}: a latency is in ms or s")
            limit *= 1000 if unit == "s" else 1
        elif metric in COUNTS:
            if stat or unit in ("ms", "s"):
                raise ValueError(f"threshold {text!r}: {metric} is a count (or a share with %)")
            limit /= 100 if unit == "%" else 1
        else:
            raise ValueError(f"threshold {text!r}: unknown metric {metric!r}; known: "
                             + ", ".join([*COUNTS, *LATENCIES]))
        return cls(text.strip(), metric, stat, op, limit, unit == "%")


def _count(report: dict[str, Any], metric: str) -> tuple[int, int]:
    """(count, denominator) of a count metric."""
    messages, phones = report["messages"], report["phones"]
    inbound = report.get("inbound") or {}
    unanswered, rejected = messages["send_errors"], messages["rejected"]
    return {
        "send_errors": (unanswered + rejected, messages["attempted"]),
        "rejected": (rejected, messages["attempted"]),
        "unanswered": (unanswered, messages["attempted"]),
        "lost": (messages["lost"], messages["accepted"]),
        "stuck": (messages["stuck"], messages["accepted"]),
        "unknown_events": (messages["unknown_events"], messages["accepted"]),
        "late": (messages["late"], messages["scheduled"]),
        "phones_failed": (phones["failed"], phones["planned"]),
        "phones_offline": (phones.get("offline", 0), phones["started"]),
        "inbound_lost": (inbound.get("lost", 0), inbound.get("received", 0)),
    }[metric]


def evaluate(threshold: Threshold, report: dict[str, Any], source: str = "threshold") -> dict[str, Any]:
    check: dict[str, Any] = {"expression": threshold.text, "source": source}
    if threshold.metric in LATENCIES:
        state = LATENCIES[threshold.metric]
        figures = (report.get("inbound") or {}).get("latency_ms", {}) if state == "webhook" \
            else report["latency_ms"].get(state, {})
        value = figures.get(threshold.stat or "")
        if value is None:
            return {**check, "value": None, "ok": False, "reason": f"threshold {threshold.text} failed: no samples"}
        reason = f"{threshold.metric}.{threshold.stat} {value:,} ms"
    else:
        count, total = _count(report, threshold.metric)
        value = (count / total if total else 0.0) if threshold.percent else count
        reason = COUNTS[threshold.metric].format(n=count, total=total)
        if threshold.percent:
            reason += f" ({value:.2%})"
        if threshold.metric in ("send_errors", "rejected", "unanswered") and count:
            reason += f": {_answers(report, threshold.metric)}"
    ok = OPERATORS[threshold.op](value, threshold.limit)
    if source == "threshold":
        reason = f"threshold {threshold.text} failed: {reason}"
    return {**check, "value": value, "ok": ok, "reason": reason}


def _answers(report: dict[str, Any], metric: str) -> str:
    """What the failed sends got, e.g. `201 x60 (202 expected), no answer x3`."""
    parts = []
    for status, count in sorted(report["messages"]["send_results"].items()):
        if status == "202" or (metric == "rejected" and status == "error") or (metric == "unanswered"
                                                                                and status != "error"):
            continue
        if status == "error":
            parts.append(f"no answer x{count}")
        else:
            parts.append(f"{status} x{count}" + (" (202 expected)" if status.startswith("2") else ""))
    return ", ".join(parts)


def _api_checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    """An API whose every request answered 404: a wrong prefix, the root of every other failure."""
    return [{"expression": f"{name} API answers", "source": "default", "value": None, "ok": False, "reason": line}
            for name, line in hints(report.get("apis") or {}).items()]


def verdict(report: dict[str, Any], thresholds: list[str]) -> dict[str, Any]:
    """The checks, failures first in the order they matter, and whether the run is green."""
    parsed = [Threshold.parse(text) for text in thresholds]
    overridden = {threshold.metric for threshold in parsed}
    checks = _api_checks(report)
    checks += [evaluate(Threshold.parse(text), report, "default") for text in DEFAULTS
               if Threshold.parse(text).metric not in overridden]
    checks += [evaluate(threshold, report) for threshold in parsed]
    failed = [check for check in checks if not check["ok"]]
    return {"ok": not failed, "reasons": [check["reason"] for check in failed], "checks": checks}
