"""One self-contained HTML page (inline CSS, no scripts): the verdict table, then each capability's checks with
the failure reports folded away."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path

from ..capabilities import BY_NAME
from ..results import CapabilityResult, CheckResult, RunResult

COLOURS = {"Pass": "#1a7f37", "Non-strict": "#b58a00", "Fail": "#cf222e", "Missing": "#8250df",
           "Not checked": "#0969da", "Not selected": "#8c959f"}
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1f2328;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} .meta{color:#59636e} .score{font-size:2.4em;font-weight:700}
table{border-collapse:collapse;width:100%;margin:1em 0} th,td{padding:.35em .6em;border-bottom:1px solid #d1d9e0;
text-align:left;vertical-align:top} th{background:#f6f8fa} td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.05em .6em;border-radius:1em;color:#fff;font-weight:600;font-size:.9em}
.bar{background:#eaeef2;height:.6em;border-radius:.3em;min-width:80px}.bar span{display:block;height:100%;
border-radius:.3em;background:#1a7f37} details{margin:.3em 0} summary{cursor:pointer}
pre{background:#f6f8fa;padding:.8em;overflow:auto;max-height:30em;font-size:12px;white-space:pre-wrap}
.passed{color:#1a7f37}.failed{color:#cf222e}.skipped{color:#8250df}.should{color:#b58a00}code{font-size:.95em}
"""


def badge(verdict: str) -> str:
    return f'<span class="badge" style="background:{COLOURS[verdict]}">{escape(verdict)}</span>'


def check_row(check: CheckResult) -> str:
    name = escape(check.id.split("::", 1)[1])
    outcome = check.outcome.upper()
    if check.outcome == "failed":
        outcome = "EXPECTED FAIL" if check.expected else ("WARN" if check.strength == "SHOULD" else "FAIL")
    message = escape(check.message)
    if check.reproduce:
        message += f"<pre class=repro>{escape(check.reproduce)}</pre>"
    if check.details:
        message = f"<details><summary>{message or 'details'}</summary><pre>{escape(check.details)}</pre></details>"
    return (f'<tr><td class="{check.outcome}">{outcome}</td><td>{check.strength}</td><td><code>{name}</code></td>'
            f'<td class="n">{check.duration:.1f}s</td><td>{message}</td></tr>')


def capability_section(capability: CapabilityResult) -> str:
    known = BY_NAME.get(capability.name)
    needs = f"<p><b>Needs:</b> {escape(known.needs)}</p>" if known and known.needs else ""
    if capability.reason:
        needs += f"<p><b>{escape(capability.verdict)}:</b> {escape(capability.reason)}</p>"
    rows = "".join(check_row(check) for check in capability.checks)
    table = (f"<table><tr><th>Outcome</th><th>Level</th><th>Check</th><th>Time</th><th>Message</th></tr>{rows}"
             "</table>") if rows else "<p>No checks ran.</p>"
    return (f'<details id="{escape(capability.name)}"{" open" if capability.verdict == "Fail" else ""}>'
            f"<summary><b>{escape(capability.name)}</b> — {escape(capability.title)} {badge(capability.verdict)}"
            f"</summary><p>{escape(known.meaning if known else '')}</p>{needs}{table}</details>")


def fix_first(result: RunResult) -> str:
    items = "".join(f"<li><b class={'failed' if c.strength == 'MUST' else 'should'}>{c.strength}</b> "
                    f"<code>{escape(c.id)}</code>: {escape(c.message[:300])}"
                    f"{f'<pre class=repro>{escape(c.reproduce)}</pre>' if c.reproduce else ''}</li>"
                    for c in result.fix_first[:10])
    return f"<h2>What to fix first</h2><ol>{items}</ol>" if items else ""


def render(result: RunResult) -> str:
    rows = []
    for capability in result.capabilities:
        percent = capability.percent
        rows.append(
            f'<tr><td><a href="#{escape(capability.name)}">{escape(capability.name)}</a></td>'
            f"<td>{escape(capability.title)}</td><td>{badge(capability.verdict)}</td>"
            f'<td class="n">{capability.count("passed")}</td><td class="n">{capability.count("failed")}</td>'
            f'<td class="n">{capability.count("skipped")}</td>'
            f'<td class="n">{f"{percent:.0f}%" if capability.checked else ""}</td>'
            f'<td><div class="bar"><span style="width:{percent:.0f}%"></span></div></td></tr>')
    status = "PASSED" if result.exit_status == 0 else "FAILED"
    notes = "".join(f"<li class=failed>{escape(e)}</li>" for e in result.errors)
    if result.baseline is not None:
        notes += "".join(f"<li class=failed>new failure: <code>{escape(c.id)}</code></li>"
                         for c in result.new_failures)
    notes += "".join(f"<li class=passed>fixed: <code>{escape(e)}</code></li>" for e in result.fixed)
    notes += "".join(f"<li class=failed>not certifiable: {escape(p)}</li>" for p in result.certification_problems)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>SMSGate conformance: "
            f"{escape(result.target)}</title><style>{CSS}</style></head><body>"
            f"<h1>SMSGate conformance</h1><p class=meta>{escape(result.header)}</p>"
            f"<p class=meta>{generated} · "
            f"{len(result.checks)} checks in {result.duration:.0f} s{' · certification run' if result.certify else ''}"
            f"</p><p><span class=score>{result.score:.1f}%</span> overall score · <b>{status}</b><br>"
            f"{escape(result.score_text)}</p>{fix_first(result)}"
            f"{'<ul>' + notes + '</ul>' if notes else ''}"
            "<table><tr><th>Capability</th><th>Meaning</th><th>Verdict</th><th>Pass</th><th>Fail</th><th>Skip</th>"
            f"<th>%</th><th></th></tr>{''.join(rows)}</table>"
            "<p class=meta>Pass: every core check ran and passed. Non-strict: only SHOULD checks failed. Fail: a MUST "
            "check failed. Missing: the target lacks the feature (its core answered 501 or 404). Not checked: the "
            "run lacked a prerequisite (named). The score is the mean of the checked capabilities' percentages.</p>"
            f"{''.join(capability_section(c) for c in result.capabilities if c.selected)}</body></html>\n")


def write_html(result: RunResult, path: str | Path) -> None:
    Path(path).write_text(render(result), encoding="utf-8")
