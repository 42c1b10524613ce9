"""The end-of-run summary, as plain lines for the terminal: the verdict and its reasons first (root causes
before their consequences), then the figures, then what went wrong grouped by kind, like k6's summary."""

from __future__ import annotations

from typing import Any

SHOWN_IDS = 10
SHOWN_GROUPS = 3  # distinct errors shown per kind
INDENT = " " * 19


def _ms(value: Any) -> str:
    return "–" if value is None else f"{value:,} ms"


def _n(value: Any) -> str:
    return "–" if value is None else f"{value:g}"


def _verdict(verdict: dict[str, Any]) -> list[str]:
    if verdict["ok"]:
        return ["  verdict          GREEN"]
    first, *rest = verdict["reasons"]
    return ["  verdict          RED: " + first, *(INDENT + "     " + reason for reason in rest)]


def _settings(run: dict[str, Any]) -> str:
    radio = ", ".join(f"{name} {'–'.join(f'{v:g}' for v in run[key])} s" for name, key in
                      (("sent", "sent_latency"), ("delivered", "delivered_latency")) if run.get(key))
    return (f"  settings         rate {run['rate']} msg/s, ramp {run['ramp']} phones/s, duration {run['duration']} s, "
            f"grace {run['grace']} s, failure rate {run.get('failure_rate', 0):g}"
            + (f", radio {radio}" if radio else "")
            + f", seed {'none' if run.get('seed') is None else run['seed']}, model {run.get('model', 'closed')}")


def error_lines(report: dict[str, Any]) -> list[str]:
    """Errors by kind: the count, then the most frequent distinct errors of that kind with their counts."""
    errors = report["errors"]
    lines = ["  errors           " + (", ".join(f"{k} {v}" for k, v in sorted(errors["by_kind"].items())) or "none")]
    groups = errors.get("groups")
    if groups is None:  # a report older than the groups: the first sample of each kind
        groups = [{"where": s["where"], "detail": s["detail"], "count": None} for s in errors["samples"]]
    shown: dict[str, int] = {}
    for group in groups:
        where = group["where"]
        if where == "registration":
            continue  # listed whole above
        shown[where] = shown.get(where, 0) + 1
        if shown[where] <= SHOWN_GROUPS:
            count = "" if group["count"] is None else f" x{group['count']}"
            lines.append(f"    {where}{count}: {group['detail'][:200]}")
    return lines


def registration_lines(report: dict[str, Any]) -> list[str]:
    """Each phone that failed to register once, grouped when the failures read alike (phone numbers masked)."""
    count = report["errors"]["by_kind"].get("registration", 0)
    if not count:
        return []
    groups = [g for g in report["errors"].get("groups") or [] if g["where"] == "registration"]
    if not groups:  # a report older than the groups: its samples
        groups = [{"detail": s["detail"], "count": 1} for s in report["errors"]["samples"]
                  if s["where"] == "registration"]
    lines = [f"  registration     {count} phone(s) failed:"]
    lines += [f"    x{g['count']} {g['detail'][:220]}" for g in groups[:SHOWN_IDS]]
    return lines


def unknown_lines(messages: dict[str, Any]) -> list[str]:
    count = messages.get("unknown_events", 0)
    if not count:
        return []
    samples = messages.get("unknown_samples") or []
    shown = ", ".join(f"{s['id']} {s['state']} (device {s['device']})" for s in samples)
    return [f"  unknown events   {count} state reports for messages this run never sent"
            + (f", e.g. {shown}" if shown else "")]


def summary_lines(report: dict[str, Any]) -> list[str]:
    run, phones, messages, check = report["run"], report["phones"], report["messages"], report["server_check"]
    throughput = report.get("throughput") or {}
    lines = ["summary" + (" (interrupted)" if run["interrupted"] else ""), *_verdict(report["verdict"])]
    lines.append(f"  server           {run['server']}  shards {', '.join(run['shards'])}  push {run['push']}")
    if run.get("mobile_url") and run.get("thirdparty_url"):
        lines.append(f"  APIs             mobile {run['mobile_url']}  3rd-party {run['thirdparty_url']}")
    lines += [
        _settings(run),
        f"  phones           {phones['started']} started of {phones['planned']}, {phones['failed']} failed, "
        f"{phones.get('offline', 0)} never online, peak {phones['online_peak']} online, "
        f"ramp {phones.get('ramp_seconds')} s",
        f"  messages         {messages['attempted']} sent, {messages['accepted']} accepted, "
        f"{messages['rejected']} rejected, {messages['send_errors']} unanswered, {messages['late']} late"
        + (f", {messages['skipped']} skipped (no phone online)" if messages.get("skipped") else "")
        + f", {messages['unknown_events']} reports for unknown ids",
        f"  throughput       {_n(throughput.get('accepted_per_s'))} accepted/s of "
        f"{_n(throughput.get('offered_per_s'))} asked ({_n(throughput.get('sent_per_s'))} sent/s over "
        f"{_n(throughput.get('traffic_seconds'))} s)",
        f"  outcome          {messages['final']} final ("
        + ", ".join(f"{k} {v}" for k, v in sorted(messages["final_states"].items())) + f"), "
        f"{messages['unfinished']} unfinished, {messages['stuck']} stuck, {messages['lost']} lost",
        f"  unconfirmed      {messages.get('unconfirmed', 0)} sends got no answer or a 5xx, "
        f"{messages.get('unconfirmed_stored', 0)} of them stored all the same (a phone had them)",
        f"  server check     {check['checked']} checked, {check['agree']} agree, {check['disagree']} disagree, "
        f"{check['errors']} errors",
    ]
    for state, figures in report["latency_ms"].items():
        lines.append(f"  send → {state:<10}p50 {_ms(figures['p50'])}  p95 {_ms(figures['p95'])}  "
                     f"p99 {_ms(figures['p99'])}  max {_ms(figures['max'])}  (n={figures['count']})")
    inbound = report.get("inbound")
    if inbound:
        figures = inbound["latency_ms"]
        lines.append(f"  inbound SMS      {inbound['received']} received, {inbound['delivered']} webhooks arrived, "
                     f"{inbound['lost']} lost, {inbound['duplicates']} duplicates; receive → webhook "
                     f"p50 {_ms(figures['p50'])}  p95 {_ms(figures['p95'])}  p99 {_ms(figures['p99'])}")
    for item in report["verdict"]["checks"]:
        if item["source"] == "threshold":
            lines.append(f"  threshold        {'ok  ' if item['ok'] else 'FAIL'} {item['expression']}"
                         + ("" if item["ok"] else f"  ({item['reason'].split(': ', 1)[-1]})"))
    lines += registration_lines(report)
    lines += unknown_lines(messages)
    lines += error_lines(report)
    for name in ("lost", "stuck", "failed"):
        items = report.get(name) or []
        if items:
            shown = ", ".join(f"{i['id']} ({i.get('server_state') or i.get('phone_state')})" for i in items[:SHOWN_IDS])
            lines.append(f"  {name} ids{' ' * (13 - len(name))}{shown}{' …' if len(items) > SHOWN_IDS else ''}")
    return lines
