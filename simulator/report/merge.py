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
        samples.setdefault("answers", []).extend(
            [sent + shift_ms, *rest] for sent, *rest in report["samples"].get("answers", []))
    return samples


def _inbound(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    sections = [r["inbound"] for r in reports if r.get("inbound")]
    if not sections:
        return None
    merged: dict[str, Any] = {key: sum(s[key] for s in sections) for key in
                              ("rate", "received", "delivered", "lost", "duplicates", "foreign", "acknowledged",
                               "failed_attempts")}
    merged["receiver"] = sections[0]["receiver"]
    merged["samples"] = [v for s in sections for v in s["samples"]]
    return merged


def _apis(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Requests and 404s per API, added up; the prefixes that answered, from any shard."""
    sections = [r["apis"] for r in reports if r.get("apis")]
    if not sections:
        return None
    merged: dict[str, Any] = {}
    for section in sections:
        for name, api in section.items():
            slot = merged.setdefault(name, {"url": api["url"], "requests": 0, "not_found": 0, "statuses": {},
                                            "answering": []})
            slot["requests"] += api["requests"]
            slot["not_found"] += api["not_found"]
            slot["statuses"] = _add_maps([slot["statuses"], api.get("statuses", {})])
            slot["answering"] += [u for u in api.get("answering", []) if u not in slot["answering"]]
    return merged


def _groups(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counts: Counter[tuple[str, str]] = Counter()
    for report in reports:
        for group in report["errors"].get("groups", []):
            counts[(group["where"], group["detail"])] += group["count"]
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"where": where, "detail": detail, "count": count} for (where, detail), count in ordered]


def _tagged(reports: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [{**item, "shard": report["run"]["shards"][0]} for report in reports for item in report.get(key, [])]


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
    messages["unknown_samples"] = [s for r in reports for s in r["messages"].get("unknown_samples", [])][:20]
    checks = [r["server_check"] for r in reports]
    merged: dict[str, Any] = {
        "schema": SCHEMA, "version": VERSION,
        "run": _run(reports, base),
        "phones": {
            **{key: sum(r["phones"][key] for r in reports) for key in ("planned", "started", "failed", "online_end")},
            "offline": sum(r["phones"].get("offline", 0) for r in reports),
            "offline_ids": [i for r in reports for i in r["phones"].get("offline_ids", [])],
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
        "failed": _tagged(reports, "failed"),
        "errors": {"total": sum(r["errors"]["total"] for r in reports),
                   "by_kind": _add_maps([r["errors"]["by_kind"] for r in reports]),
                   "samples": [s for r in reports for s in r["errors"]["samples"]][:200],
                   "groups": _groups(reports)},
        "timeline": timeline,
        "samples": _samples(reports, base),
    }
    inbound = _inbound(reports)
    if inbound is not None:
        merged["inbound"] = inbound
    apis = _apis(reports)
    if apis is not None:
        merged["apis"] = apis
    return derive(merged)
