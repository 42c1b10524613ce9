"""`smsgate-sim merge`: one report from the reports of the shards of one fleet (`--shard K/N` runs).

Counts add up, lists are concatenated, timelines are aligned on wall-clock time, and percentiles are
computed again from all the samples.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .schema import LATER_COUNTERS, MESSAGE_COUNTERS, SCHEMA, TIMELINE_COUNTERS, VERSION, ReportError, validate
from .stats import LATENCY_STATES, derive


def _add_maps(maps: list[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for mapping in maps:
        total.update(mapping)
    return dict(total)


def _run(reports: list[dict[str, Any]], base: float) -> dict[str, Any]:
    runs = [r["run"] for r in reports]
    shards = [shard for run in runs for shard in run["shards"]]
    duplicates = sorted({s for s in shards if shards.count(s) > 1})
    if duplicates:
        raise ReportError(f"shard(s) {', '.join(duplicates)} appear in more than one report")
    servers = sorted({run["server"] for run in runs})
    run = dict(runs[0])
    run.update({
        "server": servers[0] if len(servers) == 1 else ", ".join(servers),
        "shards": sorted(shards, key=lambda s: tuple(int(x) for x in s.split("/"))),
        "started_epoch": base,
        "started_at": min(run["started_at"] for run in runs),
        "finished_at": max(run["finished_at"] for run in runs),
        "interrupted": any(run["interrupted"] for run in runs),
        "merged_from": len(reports),
    })
    counts = {int(s.split("/")[1]) for s in shards}
    if len(counts) == 1 and len(shards) < counts.pop():
        run["missing_shards"] = True
    return run


def _timeline(reports: list[dict[str, Any]], base: float) -> list[dict[str, Any]]:
    merged: dict[int, dict[str, Any]] = {}
    online: dict[int, int] = {}
    for report in reports:
        shift = round(report["run"]["started_epoch"] - base)
        for entry in report["timeline"]:
            t = entry["t"] + shift
            slot = merged.setdefault(t, {"t": t, **{key: 0 for key in TIMELINE_COUNTERS}})
            for key in TIMELINE_COUNTERS:
                slot[key] += entry.get(key, 0)
            online[t] = online.get(t, 0) + entry["online"]
    last = max(merged, default=-1)
    return [{**merged.get(t, {"t": t, **{key: 0 for key in TIMELINE_COUNTERS}}), "online": online.get(t, 0)}
            for t in range(last + 1)]


def _samples(reports: list[dict[str, Any]], base: float) -> dict[str, list[Any]]:
    samples: dict[str, list[Any]] = {"sent_ms": [], **{state: [] for state in LATENCY_STATES}}
    for report in reports:
        shift_ms = round((report["run"]["started_epoch"] - base) * 1000)
        samples["sent_ms"].extend(v + shift_ms for v in report["samples"]["sent_ms"])
        for state in LATENCY_STATES:
            samples[state].extend(report["samples"][state])
    return samples


def _tagged(reports: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [{**item, "shard": report["run"]["shards"][0]} for report in reports for item in report[key]]


def merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    if not reports:
        raise ReportError("nothing to merge")
    reports = [validate(report) for report in reports]
    base = min(report["run"]["started_epoch"] for report in reports)
    timeline = _timeline(reports, base)
    messages: dict[str, Any] = {key: sum(r["messages"][key] for r in reports) for key in MESSAGE_COUNTERS}
    messages.update({key: sum(r["messages"].get(key, 0) for r in reports) for key in LATER_COUNTERS})
    for key in ("send_results", "reached", "final_states"):
        messages[key] = _add_maps([r["messages"][key] for r in reports])
    checks = [r["server_check"] for r in reports]
    merged: dict[str, Any] = {
        "schema": SCHEMA, "version": VERSION,
        "run": _run(reports, base),
        "phones": {
            **{key: sum(r["phones"][key] for r in reports) for key in ("planned", "started", "failed", "online_end")},
            "online_peak": max([entry["online"] for entry in timeline] + [max(r["phones"]["online_peak"]
                                                                              for r in reports)]),
            "ramp_seconds": max((r["phones"].get("ramp_seconds") or 0 for r in reports), default=None),
        },
        "messages": messages,
        "latency_ms": {},
        "server_check": {
            **{key: sum(c[key] for c in checks) for key in ("requests", "errors", "checked", "agree", "disagree")},
            "states": _add_maps([c["states"] for c in checks]),
            "disagreements": [d for c in checks for d in c["disagreements"]],
        },
        "lost": _tagged(reports, "lost"),
        "stuck": _tagged(reports, "stuck"),
        "errors": {"total": sum(r["errors"]["total"] for r in reports),
                   "by_kind": _add_maps([r["errors"]["by_kind"] for r in reports]),
                   "samples": [s for r in reports for s in r["errors"]["samples"]][:200]},
        "timeline": timeline,
        "samples": _samples(reports, base),
    }
    return derive(merged)
