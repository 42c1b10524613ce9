"""The JSON report: its identity, its required shape, reading and writing. Documented in README.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA = "smsgate-sim-report"
VERSION = 1
TIMELINE_COUNTERS = ("attempted", "accepted", "rejected", "Processed", "Sent", "Delivered", "Failed", "errors")
MESSAGE_COUNTERS = ("scheduled", "attempted", "accepted", "rejected", "send_errors", "late", "unknown_events",
                    "lost", "stuck", "unfinished", "final")
# Counters newer than some reports (absent: 0): sends with no answer or a 5xx, and those of them a phone received.
LATER_COUNTERS = ("unconfirmed", "unconfirmed_stored")

# key -> expected type, for the top level and each section (lists and maps are checked one level deep).
SHAPE: dict[str, Any] = {
    "schema": str,
    "version": int,
    "run": {"server": str, "devices": int, "shards": list, "push": str, "rate": (int, float), "ramp": (int, float),
            "duration": (int, float), "grace": (int, float), "client": str, "phones_per_account": int,
            "started_at": str, "finished_at": str, "started_epoch": (int, float), "interrupted": bool},
    "phones": {"planned": int, "started": int, "failed": int, "online_peak": int, "online_end": int},
    "messages": {**{key: int for key in MESSAGE_COUNTERS}, "send_results": dict, "reached": dict,
                 "final_states": dict},
    "latency_ms": {"Processed": dict, "Sent": dict, "Delivered": dict},
    "server_check": {"requests": int, "errors": int, "checked": int, "agree": int, "disagree": int,
                     "states": dict, "disagreements": list},
    "lost": list,
    "stuck": list,
    "errors": {"total": int, "by_kind": dict, "samples": list},
    "timeline": list,
    "samples": {"sent_ms": list, "Processed": list, "Sent": list, "Delivered": list},
}


class ReportError(ValueError):
    pass


def _check(value: Any, shape: Any, where: str) -> None:
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise ReportError(f"{where or 'report'}: expected an object")
        for key, inner in shape.items():
            if key not in value:
                raise ReportError(f"{where + '.' if where else ''}{key}: missing")
            _check(value[key], inner, f"{where + '.' if where else ''}{key}")
        return
    types = shape if isinstance(shape, tuple) else (shape,)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        expected = " or ".join(t.__name__ for t in types)
        raise ReportError(f"{where}: expected {expected}, got {type(value).__name__}")


def validate(report: Any) -> dict[str, Any]:
    """The report itself when it has the documented shape; ReportError naming the first bad key otherwise."""
    _check(report, SHAPE, "")
    if report["schema"] != SCHEMA or report["version"] != VERSION:
        raise ReportError(f"not a {SCHEMA} v{VERSION} report: {report['schema']} v{report['version']}")
    samples = report["samples"]
    if len({len(samples[key]) for key in ("sent_ms", "Processed", "Sent", "Delivered")}) != 1:
        raise ReportError("samples: the four lists differ in length")
    for entry in report["timeline"]:
        if not isinstance(entry, dict) or "t" not in entry or "online" not in entry:
            raise ReportError("timeline: each entry needs t and online")
    return dict(report)


def write(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    tmp.replace(path)


def read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: {exc}") from exc
    try:
        return validate(data)
    except ReportError as exc:
        raise ReportError(f"{path}: {exc}") from exc
