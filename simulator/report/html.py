"""The HTML report: one self-contained page (inline CSS and SVG, nothing fetched) from a JSON report.

Laid out as k6's end-of-test summary and Locust's report are: the verdict and its reasons first, the run's
settings and what it achieved, per-request statistics, charts over time, then what went wrong grouped by
kind and the ids of the messages concerned. Tables scroll inside their own box and charts scale to the
page, so it reads on a phone too.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from .csvfiles import STATS_HEADER, stats_rows
from .stats import LATENCY_STATES
from .svg import Style, line_chart, rebin

STYLE = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 1.5em; color: #222; max-width: 1200px; }
.scroll { overflow-x: auto; max-width: 100%; margin: 0.5em 0 1.5em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: right; vertical-align: top; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
td.detail { text-align: left; min-width: 16em; max-width: 60em; overflow-wrap: anywhere; }
table.errors td.detail { font-family: monospace; font-size: 85%; }
table.kv td { text-align: left; }
p.caption { font-weight: bold; margin: 1em 0 0; }
.verdict { border-left: 6px solid; padding: 0.6em 1em; margin: 1em 0; overflow-wrap: anywhere; }
.verdict.bad { border-color: #c00; background: #fdecec; } .verdict.ok { border-color: #1a7f37; background: #eaf6ec; }
.verdict ol { margin: 0.4em 0 0; padding-left: 1.4em; }
.bad { color: #b00; font-weight: bold; } .ok { color: #1a7f37; font-weight: bold; }
figure { margin: 0 0 1.5em; }
.chart { display: block; width: 100%; max-width: 1000px; height: auto; }
code { font-size: 90%; overflow-wrap: anywhere; }
@media (max-width: 600px) { body { padding: 0 0.6em; margin: 1em auto; } th, td { padding: 3px 6px; } }
"""
# Semantic colours: the errors in reds and oranges, never close to Processed's blue; accepted dashed grey.
SERIES_STYLES = {
    "accepted": Style("#555555", "6 3", "square"), "Processed": Style("#1f77b4", "", "circle"),
    "Sent": Style("#17becf", "2 3", "diamond"), "Delivered": Style("#2ca02c", "9 3 2 3", "triangle"),
    "Failed": Style("#d62728", "", "cross"), "p50": Style("#1f77b4", "", "circle"),
    "p95": Style("#ff7f0e", "7 4", "square"), "p99": Style("#9467bd", "2 3", "diamond"),
    "sent": Style("#1f77b4", "", "circle"), "sends failed": Style("#d62728", "7 4", "cross"),
    "phone errors": Style("#e377c2", "2 3", "triangle"), "online": Style("#2ca02c", "", "circle"),
    "sends failed (%)": Style("#d62728", "", "cross"), "Failed by the radio (%)": Style("#ff7f0e", "7 4", "square"),
}
SHOWN = 200  # rows of ids before "and N more"


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def _table(headers: list[str], rows: list[list[Any]], caption: str = "", detail: int | None = None,
           kind: str = "") -> str:
    """A table in its own scrolling box; column `detail` holds long text that wraps; `kind` is a CSS class
    (kv: a two-column setting/value table, left-aligned; errors: details in monospace)."""
    def cls(i: int) -> str:
        return "detail" if i == detail else "l" if i == 0 else ""

    head = "".join(f'<th class="{"l" if i in (0, detail) else ""}">{escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="{cls(i)}">{_cell(v)}</td>' for i, v in enumerate(row)) + "</tr>"
                   for row in rows)
    cap = f'<p class="caption">{escape(caption)}</p>' if caption else ""
    table = f'<table class="{kind}">' if kind else "<table>"
    return f'{cap}<div class="scroll">{table}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _verdict(report: dict[str, Any]) -> str:
    judged = report.get("verdict") or {"ok": True, "reasons": []}
    messages = report["messages"]
    tail = (f'{messages["attempted"]} sends, {messages["accepted"]} accepted, {messages["lost"]} lost, '
            f'{messages["stuck"]} stuck')
    if judged["ok"]:
        return f'<div class="verdict ok"><span class="ok">Verdict: green</span> ({escape(tail)})</div>'
    reasons = "".join(f"<li>{escape(reason)}</li>" for reason in judged["reasons"])
    return (f'<div class="verdict bad"><span class="bad">Verdict: red</span> ({escape(tail)}), root causes first:'
            f"<ol>{reasons}</ol></div>")


def _pair(value: Any) -> str:
    return "–" if not value else "–".join(f"{v:g}" for v in value) + " s"


def _settings(report: dict[str, Any]) -> str:
    run = report["run"]
    rows: list[list[Any]] = [
        ["server", run["server"]],
        ["mobile API / 3rd-party API", f'{run.get("mobile_url", "–")} / {run.get("thirdparty_url", "–")}'],
        ["shards", ", ".join(run["shards"])],
        ["started / finished", f'{run["started_at"]} / {run["finished_at"]}'
                               + (" (interrupted)" if run["interrupted"] else "")],
        ["push / client / model", f'{run["push"]} / {run["client"]} / {run.get("model", "closed")}'],
        ["devices / phones per account", f'{run["devices"]} / {run["phones_per_account"]}'],
        ["ramp", f'{run["ramp"]} phones/s'],
        ["traffic", f'{run["rate"]} msg/s for {run["duration"]} s, grace {run["grace"]} s'
                    + (f', max in flight {run["max_in_flight"]}' if run.get("max_in_flight") else "")],
        ["stages / rate stages", f'{run.get("stages") or "–"} / {run.get("rate_stages") or "–"}'],
        ["radio: failure rate", f'{run.get("failure_rate", 0):g}'],
        ["radio: latency to Sent / Sent to Delivered",
         f'{_pair(run.get("sent_latency"))} / {_pair(run.get("delivered_latency"))}'],
        ["inbound SMS rate", f'{run.get("inbound_rate", 0):g}/s'],
        ["seed", run.get("seed")],
        ["thresholds", ", ".join(run.get("thresholds") or []) or "–"],
    ]
    return _table(["setting", "value"], rows, "Run settings", kind="kv")


def _results(report: dict[str, Any]) -> str:
    phones, messages, check = report["phones"], report["messages"], report["server_check"]
    speed = report.get("throughput") or {}
    rows: list[list[Any]] = [
        ["phones planned / started / failed to register / never online",
         f'{phones["planned"]} / {phones["started"]} / {phones["failed"]} / {phones.get("offline", 0)}'],
        ["phones online: peak / at the end", f'{phones["online_peak"]} / {phones["online_end"]}'],
        ["sends: made / accepted / rejected / no answer / late",
         f'{messages["attempted"]} / {messages["accepted"]} / {messages["rejected"]} / {messages["send_errors"]}'
         f' / {messages["late"]}'],
        ["throughput: accepted/s (asked) · sent/s · failed/s · peak sent/s",
         f'{_cell(speed.get("accepted_per_s"))} ({_cell(speed.get("offered_per_s"))}) · '
         f'{_cell(speed.get("sent_per_s"))} · {_cell(speed.get("failed_per_s"))} · '
         f'{_cell(speed.get("peak_sent_per_s"))} over {speed.get("traffic_seconds", "–")} s'],
        ["final / unfinished / stuck / lost",
         f'{messages["final"]} / {messages["unfinished"]} / {messages["stuck"]} / {messages["lost"]}'],
        ["final states", ", ".join(f"{k} {v}" for k, v in sorted(messages["final_states"].items())) or "–"],
        ["no answer or 5xx / of them stored all the same",
         f'{messages.get("unconfirmed", 0)} / {messages.get("unconfirmed_stored", 0)}'],
        ["server check: agree / disagree / errors", f'{check["agree"]} / {check["disagree"]} / {check["errors"]}'],
        ["state reports for messages this run never sent (unknown events)", messages["unknown_events"]],
        ["errors", ", ".join(f"{k} {v}" for k, v in sorted(report["errors"]["by_kind"].items())) or "none"],
    ]
    inbound = report.get("inbound")
    if inbound:
        rows.append(["inbound SMS: received / webhooks arrived / lost",
                     f'{inbound["received"]} / {inbound["delivered"]} / {inbound["lost"]}'])
    judged = report.get("verdict") or {}
    checks = [[c["expression"], c["source"], "ok" if c["ok"] else "FAILED", c.get("reason", "")]
              for c in judged.get("checks", [])]
    return (_table(["figure", "value"], rows, "Results", kind="kv")
            + (_table(["check", "from", "result", "figure"], checks, "Checks and thresholds", detail=3)
               if checks else ""))


def _requests(report: dict[str, Any]) -> str:
    """Locust's request statistics: the send and each state, with failures and percentiles."""
    wanted = ["Type", "Name", "Request Count", "Failure Count", "Median Response Time", "Average Response Time",
              "Min Response Time", "Max Response Time", "Requests/s", "Failures/s", "95%", "99%"]
    index = [STATS_HEADER.index(name) for name in wanted]
    rows = [[row[i] for i in index] for row in stats_rows(report)]
    headers = ["type", "name", "count", "failures", "median ms", "mean ms", "min ms", "max ms", "per s",
               "failures/s", "p95 ms", "p99 ms"]
    return _table(headers, rows, "Requests and states (as Locust counts them; ms)")


def _latency(report: dict[str, Any]) -> str:
    rows = [[f"send → {state}", *(report["latency_ms"][state].get(k) for k in
                                  ("count", "min", "mean", "p50", "p95", "p99", "max"))] for state in LATENCY_STATES]
    return _table(["latency (ms)", "count", "min", "mean", "p50", "p95", "p99", "max"], rows)


def _share(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _charts(report: dict[str, Any]) -> str:
    timeline = report["timeline"]
    xs = [float(e["t"]) for e in timeline]
    lat_xs, latency = rebin(xs, {f"p{p}": [e.get(f"p{p}") for e in timeline] for p in (50, 95, 99)}, how="max")
    count_xs, counts = rebin(xs, {key: [float(e[key]) for e in timeline]
                                  for key in ("accepted", "Processed", "Sent", "Delivered", "Failed")})
    rps_xs, rps = rebin(xs, {"sent": [float(e["attempted"]) for e in timeline],
                             "sends failed": [float(e.get("rejected", 0)) for e in timeline],
                             "phone errors": [float(e.get("errors", 0)) for e in timeline]})
    rate_xs, rates = rebin(xs, {
        "sends failed (%)": [_share(e.get("rejected", 0), e["attempted"]) for e in timeline],
        "Failed by the radio (%)": [_share(e["Failed"], e["Failed"] + e["Delivered"]) for e in timeline]})
    online_xs, online = rebin(xs, {"online": [float(e["online"]) for e in timeline]})
    charts = [
        line_chart("Send → Delivered latency by second of sending", lat_xs, latency, y_label="ms",
                   styles=SERIES_STYLES),
        line_chart("Requests per second (sends by second of sending)", rps_xs, rps, y_label="per s",
                   styles=SERIES_STYLES),
        line_chart("Error rate", rate_xs, rates, y_label="%", styles=SERIES_STYLES),
        line_chart("Messages reaching each state per second", count_xs, counts, y_label="messages/s",
                   styles=SERIES_STYLES),
        line_chart("Phones online", online_xs, online, y_label="phones", styles=SERIES_STYLES),
    ]
    return "".join(f"<figure>{chart}</figure>" for chart in charts)


def _problems(report: dict[str, Any]) -> str:
    """What went wrong: registration failures, distinct errors with counts (Locust's failures), the samples
    the JSON holds, state reports for unknown ids, phones that never came online."""
    errors, messages, phones = report["errors"], report["messages"], report["phones"]
    parts = []
    registration = [[s["detail"]] for s in errors["samples"] if s["where"] == "registration"]
    if registration:
        count = errors["by_kind"].get("registration", len(registration))
        parts.append(_table(["phone (how it registered): what happened"], registration,
                            f"Registration failures ({count}; the first {len(registration)})", detail=0,
                            kind="errors"))
    groups = errors.get("groups") or []
    if groups:
        parts.append(_table(["kind", "occurrences", "error (ids masked)"],
                            [[g["where"], g["count"], g["detail"]] for g in groups[:SHOWN]],
                            "Errors by kind and message (as Locust's failures)", detail=2, kind="errors"))
    if errors["samples"]:
        parts.append(_table(["kind", "device", "error"],
                            [[s["where"], s.get("device") or "–", s["detail"]] for s in errors["samples"]],
                            "Error samples (the first of each kind, whole)", detail=2, kind="errors"))
    if messages.get("unknown_events"):
        samples = messages.get("unknown_samples") or []
        parts.append(_table(["message id", "state", "device"], [[s["id"], s["state"], s["device"]] for s in samples],
                            f'State reports for messages this run never sent: {messages["unknown_events"]}'
                            + (f" (the first {len(samples)})" if samples else "")))
    if phones.get("offline_ids"):
        parts.append(_table(["device"], [[d] for d in phones["offline_ids"][:SHOWN]],
                            f'Phones registered that never came online: {phones.get("offline", 0)}'))
    if not parts:
        return "<h2>Errors</h2><p>None.</p>"
    return "<h2>Errors</h2>" + "".join(parts)


def _ids(title: str, items: list[dict[str, Any]]) -> str:
    if not items:
        return ""
    rows = [[i["id"], i.get("shard", ""), i.get("device_id"), i["sent_at"], i.get("phone_state"),
             i.get("server_state")] for i in items[:SHOWN]]
    more = f"<p>… and {len(items) - SHOWN} more in the JSON report.</p>" if len(items) > SHOWN else ""
    return f"<h2>{escape(title)}</h2>" + _table(["id", "shard", "device", "sent at", "phone", "server"], rows) + more


def render(report: dict[str, Any]) -> str:
    messages = report["messages"]
    results = [[status, count] for status, count in sorted(messages["send_results"].items())]
    reached = [[state, count] for state, count in messages["reached"].items()]
    failed = report.get("failed") or []
    failed_count = messages["final_states"].get("Failed", len(failed))
    return "".join([
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>smsgate-sim report: {escape(report['run']['server'])}</title><style>{STYLE}</style></head><body>",
        "<h1>smsgate-sim load report</h1>",
        _verdict(report),
        _results(report),
        _settings(report),
        "<h2>Requests</h2>", _requests(report),
        "<h2>Latency</h2>", _latency(report),
        "<h2>Over time</h2>", _charts(report),
        _problems(report),
        "<h2>Messages</h2>",
        _table(["send answer", "count"], results),
        _table(["state reached (phones)", "count"], reached),
        _table(["server's final view", "count"], [[k, v] for k, v in sorted(report["server_check"]["states"].items())]),
        _ids(f"Lost ({messages['lost']}): accepted, never picked up by a phone", report["lost"]),
        _ids(f"Stuck ({messages['stuck']}): picked up, never finished", report["stuck"]),
        _ids(f"Failed ({failed_count}): accepted, then Failed", failed),
        "<p>Generated by <code>smsgate-sim</code>; the JSON report holds every figure and sample.</p>",
        "</body></html>\n",
    ])


def write(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
