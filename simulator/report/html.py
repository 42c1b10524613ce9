"""The HTML report: one self-contained page (inline CSS and SVG, nothing fetched) from a JSON report."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from .stats import LATENCY_STATES
from .svg import line_chart, rebin

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
.bad { color: #b00; font-weight: bold; } .ok { color: #070; font-weight: bold; }
.chart { display: block; margin: 1em 0; } code { font-size: 90%; }
"""


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def _table(headers: list[str], rows: list[list[Any]], caption: str = "") -> str:
    head = "".join(f'<th class="{"l" if i == 0 else ""}">{escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i == 0 else ""}">{_cell(v)}</td>' for i, v in enumerate(row))
                   + "</tr>" for row in rows)
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<tr>{head}</tr>{body}</table>"


def _summary(report: dict[str, Any]) -> str:
    run, phones, messages, check = report["run"], report["phones"], report["messages"], report["server_check"]
    judged = report.get("verdict") or {"ok": True, "reasons": []}
    verdict = (f'<span class="{"ok" if judged["ok"] else "bad"}">'
               + ("green" if judged["ok"] else "red: " + escape("; ".join(judged["reasons"])))
               + f'</span> ({messages["lost"]} lost, {messages["stuck"]} stuck)')
    rows: list[list[Any]] = [
        ["server", run["server"]], ["shards", ", ".join(run["shards"])],
        ["started / finished", f'{run["started_at"]} / {run["finished_at"]}'
                               + (" (interrupted)" if run["interrupted"] else "")],
        ["push / client", f'{run["push"]} / {run["client"]}'],
        ["phones planned / started / failed", f'{phones["planned"]} / {phones["started"]} / {phones["failed"]}'],
        ["phones online: peak / at the end", f'{phones["online_peak"]} / {phones["online_end"]}'],
        ["traffic", f'{run["rate"]} msg/s for {run["duration"]} s, grace {run["grace"]} s'],
        ["sent / accepted / rejected / no answer",
         f'{messages["attempted"]} / {messages["accepted"]} / {messages["rejected"]} / {messages["send_errors"]}'],
        ["final / unfinished", f'{messages["final"]} / {messages["unfinished"]}'],
        ["final states", ", ".join(f"{k} {v}" for k, v in sorted(messages["final_states"].items())) or "–"],
        ["server check: agree / disagree / errors", f'{check["agree"]} / {check["disagree"]} / {check["errors"]}'],
        ["errors", ", ".join(f"{k} {v}" for k, v in sorted(report["errors"]["by_kind"].items())) or "none"],
        ["reports for unknown ids", messages["unknown_events"]],
    ]
    inbound = report.get("inbound")
    if inbound:
        rows.append(["inbound SMS: received / webhooks arrived / lost",
                     f'{inbound["received"]} / {inbound["delivered"]} / {inbound["lost"]}'])
    table = _table(["", "value"], rows)
    checks = [[c["expression"], c["source"], "ok" if c["ok"] else "FAILED", c.get("reason", "")]
              for c in judged.get("checks", [])]
    if checks:
        table += _table(["check", "from", "result", "figure"], checks, "Checks and thresholds")
    return table.replace("<table>", f"<table><caption>Verdict: {verdict}</caption>", 1)


def _latency(report: dict[str, Any]) -> str:
    rows = [[f"send → {state}", *(report["latency_ms"][state].get(k) for k in
                                  ("count", "min", "mean", "p50", "p95", "p99", "max"))] for state in LATENCY_STATES]
    return _table(["latency (ms)", "count", "min", "mean", "p50", "p95", "p99", "max"], rows)


def _ids(title: str, items: list[dict[str, Any]]) -> str:
    if not items:
        return ""
    rows = [[i["id"], i.get("shard", ""), i.get("device_id"), i["sent_at"], i.get("phone_state"),
             i.get("server_state")] for i in items[:200]]
    more = f"<p>… and {len(items) - 200} more in the JSON report.</p>" if len(items) > 200 else ""
    return f"<h2>{escape(title)}</h2>" + _table(["id", "shard", "device", "sent at", "phone", "server"], rows) + more


def _charts(report: dict[str, Any]) -> str:
    timeline = report["timeline"]
    xs = [float(e["t"]) for e in timeline]
    lat_xs, latency = rebin(xs, {f"p{p}": [e.get(f"p{p}") for e in timeline] for p in (50, 95, 99)}, how="max")
    count_xs, counts = rebin(xs, {key: [float(e[key]) for e in timeline]
                                  for key in ("accepted", "Processed", "Sent", "Delivered", "Failed", "errors")})
    online_xs, online = rebin(xs, {"online": [float(e["online"]) for e in timeline]})
    return "".join([
        line_chart("Send → Delivered latency by second of sending (ms)", lat_xs, latency, y_label="ms"),
        line_chart("States reached per second", count_xs, counts, y_label="messages/s"),
        line_chart("Phones online", online_xs, online, y_label="phones"),
    ])


def render(report: dict[str, Any]) -> str:
    messages = report["messages"]
    results = [[status, count] for status, count in sorted(report["messages"]["send_results"].items())]
    reached = [[state, count] for state, count in report["messages"]["reached"].items()]
    return "".join([
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>smsgate-sim report: {escape(report['run']['server'])}</title><style>{STYLE}</style></head><body>",
        "<h1>smsgate-sim load report</h1>",
        _summary(report),
        "<h2>Latency</h2>", _latency(report),
        "<h2>Over time</h2>", _charts(report),
        "<h2>Messages</h2>",
        _table(["send answer", "count"], results),
        _table(["state reached (phones)", "count"], reached),
        _table(["server's final view", "count"], [[k, v] for k, v in sorted(report["server_check"]["states"].items())]),
        _ids(f"Lost ({messages['lost']}): accepted, never picked up by a phone", report["lost"]),
        _ids(f"Stuck ({messages['stuck']}): picked up, never finished", report["stuck"]),
        "<p>Generated by <code>smsgate-sim</code>; the JSON report holds every figure and sample.</p>",
        "</body></html>\n",
    ])


def write(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
