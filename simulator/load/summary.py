"""The end-of-run summary, as plain lines for the terminal."""

from __future__ import annotations

from typing import Any

SHOWN_IDS = 10


def _ms(value: Any) -> str:
    return "–" if value is None else f"{value:,} ms"


def summary_lines(report: dict[str, Any]) -> list[str]:
    run, phones, messages, check = report["run"], report["phones"], report["messages"], report["server_check"]
    lines = [
        "summary" + (" (interrupted)" if run["interrupted"] else ""),
        f"  server           {run['server']}  shards {', '.join(run['shards'])}  push {run['push']}",
        f"  phones           {phones['started']} started of {phones['planned']}, {phones['failed']} failed, "
        f"peak {phones['online_peak']} online, ramp {phones.get('ramp_seconds')} s",
        f"  messages         {messages['attempted']} sent, {messages['accepted']} accepted, "
        f"{messages['rejected']} rejected, {messages['send_errors']} unanswered, {messages['late']} late",
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
    errors = report["errors"]["by_kind"]
    lines.append("  errors           " + (", ".join(f"{k} {v}" for k, v in sorted(errors.items())) or "none"))
    for name in ("lost", "stuck"):
        items = report[name]
        if items:
            shown = ", ".join(f"{i['id']} ({i.get('server_state') or i.get('phone_state')})" for i in items[:SHOWN_IDS])
            lines.append(f"  {name} ids{' ' * (13 - len(name))}{shown}{' …' if len(items) > SHOWN_IDS else ''}")
    return lines
