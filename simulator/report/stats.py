"""Figures computed from a report's raw samples: latency percentiles overall and per second of sending.

Both the report of one run and the merge of several shards call `derive`, so a merged report's
percentiles come from every sample, never from averaging percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

LATENCY_STATES = ("Processed", "Sent", "Delivered")
PERCENTILES = (50, 95, 99)


def percentile(ordered: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence; None when it is empty."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    ordered = sorted(values)
    out: dict[str, float | int | None] = {"count": len(ordered)}
    out["min"] = ordered[0] if ordered else None
    out["mean"] = round(sum(ordered) / len(ordered), 1) if ordered else None
    for p in PERCENTILES:
        out[f"p{p}"] = percentile(ordered, p)
    out["max"] = ordered[-1] if ordered else None
    return out


def throughput(report: dict[str, Any]) -> dict[str, Any]:
    """What the run achieved, per second of traffic (the seconds from the first send to the last): sends
    made, accepted (202) and answered otherwise, beside the rate asked for."""
    seconds = [entry["t"] for entry in report["timeline"] if entry.get("attempted")]
    span = (seconds[-1] - seconds[0] + 1) if seconds else 0
    messages = report["messages"]

    def rate(count: int) -> float | None:
        return round(count / span, 2) if span else None

    return {"offered_per_s": report["run"].get("rate"), "traffic_seconds": span,
            "sent_per_s": rate(messages["attempted"]), "accepted_per_s": rate(messages["accepted"]),
            "failed_per_s": rate(messages["attempted"] - messages["accepted"]),
            "peak_sent_per_s": max((entry.get("attempted", 0) for entry in report["timeline"]), default=0)}


def derive(report: dict[str, Any]) -> dict[str, Any]:
    """Fill `latency_ms` and the timeline's p50/p95/p99 (Delivered, by second of sending) from `samples`."""
    samples = report["samples"]
    report["latency_ms"] = {
        state: summary([v for v in samples[state] if v is not None]) for state in LATENCY_STATES
    }
    by_second: dict[int, list[float]] = {}
    for sent_ms, delivered in zip(samples["sent_ms"], samples["Delivered"], strict=True):
        if delivered is not None:
            by_second.setdefault(int(sent_ms // 1000), []).append(delivered)
    for entry in report["timeline"]:
        ordered = sorted(by_second.get(entry["t"], []))
        for p in PERCENTILES:
            entry[f"p{p}"] = percentile(ordered, p)
    report["throughput"] = throughput(report)
    inbound = report.get("inbound")
    if inbound:
        inbound["latency_ms"] = summary([v for v in inbound["samples"] if v is not None])
    from .verdict import verdict  # the verdict reads the figures derived above

    report["verdict"] = verdict(report, list(report["run"].get("thresholds", [])))
    return report
