"""`--csv PREFIX`: the report as Locust writes its CSV files, so tools that read Locust's read ours.

* PREFIX_stats.csv: one row per "request" name and an Aggregated row. `POST /messages` is the send
  (response time = its HTTP answer; failures = rejected or unanswered); `STATE send->Processed`, ...
  are the message's latencies to each state (failures: lost or stuck for Delivered); `WEBHOOK
  sms:received` is receive -> webhook with --inbound-rate.
* PREFIX_stats_history.csv: one row per second of the run (User Count = phones online).
* PREFIX_failures.csv: Method, Name, Error, Occurrences.

Times are milliseconds, as in Locust; percentiles are nearest-rank over the samples.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .stats import LATENCY_STATES, percentile

QUANTILES = (50, 66, 75, 80, 90, 95, 98, 99, 99.9, 99.99, 100)
QUANTILE_HEADERS = ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"]
STATS_HEADER = ["Type", "Name", "Request Count", "Failure Count", "Median Response Time", "Average Response Time",
                "Min Response Time", "Max Response Time", "Average Content Size", "Requests/s", "Failures/s",
                *QUANTILE_HEADERS]
HISTORY_HEADER = ["Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", *QUANTILE_HEADERS,
                  "Total Request Count", "Total Failure Count", "Total Median Response Time",
                  "Total Average Response Time", "Total Min Response Time", "Total Max Response Time",
                  "Total Average Content Size"]


def _row(kind: str, name: str, times: Sequence[float], failures: int, seconds: float) -> list[Any]:
    ordered = sorted(times)
    count = len(ordered) + failures
    mean = round(sum(ordered) / len(ordered), 1) if ordered else 0
    quantiles = [percentile(ordered, q) if ordered else "N/A" for q in QUANTILES]
    return [kind, name, count, failures, percentile(ordered, 50) or 0, mean, ordered[0] if ordered else 0,
            ordered[-1] if ordered else 0, 0, round(count / seconds, 2), round(failures / seconds, 2), *quantiles]


def _series(report: dict[str, Any]) -> list[tuple[str, str, list[float], int]]:
    """(type, name, response times in ms, failures) per row of the stats file."""
    answers = report["samples"].get("answers", [])
    messages = report["messages"]
    rows = [("POST", "/messages", [ms for _, ms, status in answers if status == 202 and ms is not None],
             messages["rejected"] + messages["send_errors"])]
    for state in LATENCY_STATES:
        failures = messages["lost"] + messages["stuck"] if state == "Delivered" else 0
        rows.append(("STATE", f"send->{state}", [v for v in report["samples"][state] if v is not None], failures))
    inbound = report.get("inbound")
    if inbound:
        rows.append(("WEBHOOK", "sms:received", [v for v in inbound["samples"] if v is not None], inbound["lost"]))
    return rows


def _seconds(report: dict[str, Any]) -> float:
    return max(1.0, float(len(report["timeline"])))


def stats_rows(report: dict[str, Any]) -> list[list[Any]]:
    seconds = _seconds(report)
    rows = [_row(kind, name, times, failures, seconds) for kind, name, times, failures in _series(report)]
    everything = [t for _, _, times, _ in _series(report) for t in times]
    rows.append(_row("", "Aggregated", everything, sum(row[3] for row in rows), seconds))
    return rows


def history_rows(report: dict[str, Any]) -> list[list[Any]]:
    """Per second: the sends answered in that second's window (by when they left), cumulative totals after."""
    start = int(report["run"]["started_epoch"])
    by_second: dict[int, list[float]] = {}
    failed_by_second: Counter[int] = Counter()
    for sent_ms, ms, status in report["samples"].get("answers", []):
        second = int(sent_ms // 1000)
        if status == 202 and ms is not None:
            by_second.setdefault(second, []).append(ms)
        else:
            failed_by_second[second] += 1
    rows = []
    total: list[float] = []
    total_failed = 0
    for entry in report["timeline"]:
        t = entry["t"]
        times = sorted(by_second.get(t, []))
        total.extend(times)
        total_failed += failed_by_second[t]
        ordered = sorted(total)
        rows.append([start + t, entry["online"], "POST", "/messages", len(times) + failed_by_second[t],
                     failed_by_second[t], *[percentile(times, q) if times else "N/A" for q in QUANTILES],
                     len(ordered) + total_failed, total_failed, percentile(ordered, 50) or 0,
                     round(sum(ordered) / len(ordered), 1) if ordered else 0, ordered[0] if ordered else 0,
                     ordered[-1] if ordered else 0, 0])
    return rows


def failure_rows(report: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for status, count in sorted(report["messages"]["send_results"].items()):
        if status != "202":
            rows.append(["POST", "/messages", "no answer" if status == "error" else f"HTTP {status}", count])
    for name in ("lost", "stuck"):
        if report["messages"][name]:
            rows.append(["STATE", "send->Delivered", name, report["messages"][name]])
    inbound = report.get("inbound")
    if inbound and inbound["lost"]:
        rows.append(["WEBHOOK", "sms:received", "never arrived", inbound["lost"]])
    for kind, count in sorted(report["errors"]["by_kind"].items()):
        if kind != "send":
            rows.append(["PHONE", kind, f"{kind} errors", count])
    return rows


def write(report: dict[str, Any], prefix: str) -> list[Path]:
    files = [(Path(f"{prefix}_stats.csv"), STATS_HEADER, stats_rows(report)),
             (Path(f"{prefix}_stats_history.csv"), HISTORY_HEADER, history_rows(report)),
             (Path(f"{prefix}_failures.csv"), ["Method", "Name", "Error", "Occurrences"], failure_rows(report))]
    for path, header, rows in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    return [path for path, _, _ in files]
