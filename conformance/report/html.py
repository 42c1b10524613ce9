"""One self-contained HTML page (inline CSS, no scripts): root causes first, the verdict table, then each
capability's checks with their failure reports (request, response, cause, contract, rerun command) folded away;
a filter by outcome (CSS only). Long bodies wrap: nothing overflows the page at 1400 px or at phone width."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path

from ..capabilities import BY_NAME
from ..results import CapabilityResult, CheckResult, RunResult

COLOURS = {"Pass": "#1a7f37", "Non-strict": "#9a6700", "Fail": "#cf222e", "Blocked": "#1b7c83", "Missing": "#8250df",
           "Not checked": "#0969da", "Not selected": "#6e7781"}
FILTERS = (("all", "All"), ("failed", "Failed"), ("blocked", "Blocked"), ("skipped", "Skipped"), ("passed", "Passed"))
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1f2328;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} .meta{color:#59636e} .score{font-size:2.4em;font-weight:700}
table{border-collapse:collapse;width:100%;margin:1em 0} th,td{padding:.35em .6em;border-bottom:1px solid #d1d9e0;
text-align:left;vertical-align:top} th{background:#f6f8fa} td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.05em .6em;border-radius:1em;color:#fff;font-weight:600;font-size:.9em}
.bar{background:#eaeef2;height:.6em;border-radius:.3em;min-width:80px}.bar span{display:block;height:100%;
border-radius:.3em;background:#1a7f37} details{margin:.3em 0} summary{cursor:pointer}
pre{background:#f6f8fa;padding:.8em;overflow:auto;max-height:30em;font-size:12px;white-space:pre-wrap;
overflow-wrap:anywhere;word-break:break-word;max-width:100%;box-sizing:border-box}
td,li,p,summary{overflow-wrap:anywhere} .wide{overflow-x:auto;max-width:100%}
.passed{color:#1a7f37}.failed{color:#cf222e}.skipped{color:#8250df}.blocked{color:#1b7c83}.should{color:#9a6700}
code{font-size:.95em} dl.fail dt{font-weight:600;margin-top:.5em} dl.fail dd{margin:0}
.filters{margin:1em 0} .filters label{margin-right:1em;cursor:pointer} .filters input{margin-right:.3em}
#f-failed:checked~main tr.check:not(.failed),#f-blocked:checked~main tr.check:not(.blocked),
#f-skipped:checked~main tr.check:not(.skipped),#f-passed:checked~main tr.check:not(.passed){display:none}
@media (max-width:700px){body{margin:1em auto;padding:0 .5em} .opt{display:none} th,td{padding:.3em}
.score{font-size:1.8em}}
"""


def badge(verdict: str) -> str:
    return f'<span class="badge" style="background:{COLOURS[verdict]}">{escape(verdict)}</span>'


def failure_detail(check: CheckResult) -> str:
    """What a server author needs, in order: the request and the response, what was expected, the contract
    section, the command that reruns just this check."""
    parts = [f"<dt>{title}</dt><dd>{f'<pre>{escape(text)}</pre>' if pre else escape(text)}</dd>"
             for title, text, pre in check.sections()]
    return f"<dl class=fail>{''.join(parts)}</dl>"


def check_row(check: CheckResult) -> str:
    name = escape(check.id.split("::", 1)[1])
    outcome = check.outcome.upper()
    if check.outcome == "failed":
        outcome = "EXPECTED FAIL" if check.expected else ("WARN" if check.strength == "SHOULD" else "FAIL")
    message = escape(check.message)
    if check.blocks:
        message = f"<b>Root cause: blocks {check.blocks} checks.</b> " + message
    if check.outcome == "failed":
        message = f"<details><summary>{message or 'details'}</summary>{failure_detail(check)}</details>"
    return (f'<tr class="check {check.outcome}"><td class="{check.outcome}">{outcome}</td><td class=opt>'
            f'{check.strength}</td><td><code>{name}</code></td><td class="n opt">{check.duration:.1f}s</td>'
            f"<td>{message}</td></tr>")


def capability_section(capability: CapabilityResult) -> str:
    known = BY_NAME.get(capability.name)
    needs = f"<p><b>Needs:</b> {escape(known.needs)}</p>" if known and known.needs else ""
    if capability.reason:
        needs += f"<p><b>{escape(capability.verdict)}:</b> {escape(capability.reason)}</p>"
    rows = "".join(check_row(check) for check in capability.checks)
    table = (f"<table><tr><th>Outcome</th><th class=opt>Level</th><th>Check</th><th class=opt>Time</th>"
             f"<th>Message</th></tr>{rows}</table>") if rows else "<p>No checks ran.</p>"
    return (f'<details id="{escape(capability.name)}"{" open" if capability.verdict == "Fail" else ""}>'
            f"<summary><b>{escape(capability.name)}</b> — {escape(capability.title)} {badge(capability.verdict)}"
            f"</summary><p>{escape(known.meaning if known else '')}</p>{needs}{table}</details>")


def fix_first(result: RunResult) -> str:
    items = "".join(f"<li><b class={'failed' if c.strength == 'MUST' else 'should'}>{c.strength}</b> "
                    f"<code>{escape(c.id)}</code>"
                    f"{f' <b>(root cause: blocks {c.blocks} checks)</b>' if c.blocks else ''}: "
                    f"<details><summary>{escape(c.message)}</summary>{failure_detail(c)}</details></li>"
                    for c in result.fix_first[:10])
    blocked = sum(c.blocks for c in result.fix_first)
    lead = f"<p>{blocked} checks are blocked by these failures (root causes first).</p>" if blocked else ""
    return f"<h2>What to fix first</h2>{lead}<ol>{items}</ol>" if items else ""


def not_selected(result: RunResult) -> str:
    names = [c.name for c in result.capabilities if not c.selected]
    return f"<p class=meta>Not selected: {escape(', '.join(names))}</p>" if names else ""


def filters() -> str:
    """Radio buttons before <main>: the CSS above hides the rows of other outcomes (no script needed)."""
    inputs = "".join(f'<input type=radio name=outcome id="f-{key}"{" checked" if key == "all" else ""}>'
                     for key, _ in FILTERS)
    labels = "".join(f'<label for="f-{key}">{title}</label>' for key, title in FILTERS)
    return f"{inputs}<div class=filters><b>Show checks:</b> {labels}</div>"


def render(result: RunResult) -> str:
    rows = []
    for capability in (c for c in result.capabilities if c.selected):
        percent = capability.percent
        rows.append(
            f'<tr><td><a href="#{escape(capability.name)}">{escape(capability.name)}</a></td>'
            f"<td class=opt>{escape(capability.title)}</td><td>{badge(capability.verdict)}</td>"
            f'<td class="n">{capability.count("passed")}</td><td class="n">{capability.count("failed")}</td>'
            f'<td class="n">{capability.count("blocked")}</td><td class="n">{capability.count("skipped")}</td>'
            f'<td class="n">{escape(capability.percent_text)}</td>'
            f'<td class=opt><div class="bar"><span style="width:{percent if capability.checked else 0:.0f}%;'
            f'background:{COLOURS[capability.verdict]}"></span></div></td></tr>')
    status = "PASSED" if result.exit_status == 0 else "FAILED"
    notes = "".join(f"<li class=failed>{escape(e)}</li>" for e in result.errors + result.notes)
    if result.baseline is not None:
        notes += "".join(f"<li class=failed>new failure: <code>{escape(c.id)}</code></li>"
                         for c in result.new_failures)
    notes += "".join(f"<li class=passed>fixed: <code>{escape(e)}</code></li>" for e in result.fixed)
    notes += "".join(f"<li class=failed>not certifiable: {escape(p)}</li>" for p in result.certification_problems)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>SMSGate conformance: "
            f"{escape(result.target)}</title><meta name=viewport content=\"width=device-width, initial-scale=1\">"
            f"<style>{CSS}</style></head><body>"
            f"<h1>SMSGate conformance</h1><p class=meta>{escape(result.header)}</p>"
            f"<p class=meta>{generated} · "
            f"{len(result.checks)} checks in {result.duration:.0f} s{' · certification run' if result.certify else ''}"
            f"</p><p><span class=score>{result.score:.1f}%</span> overall score · <b>{status}</b><br>"
            f"{escape(result.score_text)}</p>{fix_first(result)}"
            f"{'<ul>' + notes + '</ul>' if notes else ''}"
            "<div class=wide><table><tr><th>Capability</th><th class=opt>Meaning</th><th>Verdict</th><th>Pass</th>"
            f"<th>Fail</th><th>Blocked</th><th>Skip</th><th>%</th><th class=opt></th></tr>{''.join(rows)}</table></div>"
            f"{not_selected(result)}"
            "<p class=meta>Pass: every core check ran and passed. Non-strict: only SHOULD checks failed. Fail: a MUST "
            "check failed. Blocked: a check could not judge because a prerequisite check failed (named; fix that "
            "first). Missing: the target lacks the feature (all its routes answered 404 or 501). Not checked: the "
            "run lacked a prerequisite (named). The score is the mean of the checked capabilities' percentages "
            "(Pass, Non-strict, Fail); % is passed of the checks that judged.</p>"
            f"{filters()}<main>{''.join(capability_section(c) for c in result.capabilities if c.selected)}</main>"
            "</body></html>\n")


def write_html(result: RunResult, path: str | Path) -> None:
    Path(path).write_text(render(result), encoding="utf-8")
