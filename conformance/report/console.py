"""The console: a line per check while the run goes, the verdict table at the end."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..plugin import Progress
from ..results import CheckResult, RunResult

STYLE = {"Pass": "bold green", "Non-strict": "bold yellow", "Fail": "bold red", "Blocked": "bold cyan",
         "Missing": "bold magenta", "Not checked": "bold blue", "Not selected": "dim"}
FIX_FIRST = 10  # failures listed under "what to fix first"
MARK = {"passed": "[green]PASS[/]", "failed": "[red]FAIL[/]", "skipped": "[magenta]SKIP[/]",
        "blocked": "[cyan]BLKD[/]"}


def progress_printer(console: Console) -> Progress:
    def show(check: CheckResult, done: int, total: int) -> None:
        mark = "[yellow]WARN[/]" if check.outcome == "failed" and check.strength == "SHOULD" else MARK[check.outcome]
        width = len(str(total))
        name = escape(check.id.split("::", 1)[1])
        console.print(f"[dim][{done:>{width}}/{total}][/] {mark} [cyan]{check.capability}[/] {name} "
                      f"[dim]{check.duration:.1f}s[/]", highlight=False, soft_wrap=True)
        if check.outcome != "passed" and check.message:
            console.print(f"        {check.message}", style="dim", highlight=False, markup=False, soft_wrap=True)
        if check.outcome == "failed" and check.reproduce:
            console.print(f"        reproduce: {check.reproduce}", highlight=False, markup=False, soft_wrap=True)
        if check.rate_limited:
            console.print(f"        rate limited: {check.rate_limited} × 429 waited out "
                          f"({check.rate_limit_wait:.0f} s)",
                          style="dim", highlight=False, markup=False)

    return show


def print_header(header: str, console: Console) -> None:
    console.print(header, highlight=False, markup=False, soft_wrap=True)


def print_summary(result: RunResult, console: Console) -> None:
    print_header(result.header, console)
    table = Table(title=f"SMSGate conformance of {result.target}", title_justify="left")
    for column, justify in (("Capability", "left"), ("Verdict", "left"), ("Pass", "right"), ("Fail", "right"),
                            ("Blocked", "right"), ("Skip", "right"), ("%", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for capability in (c for c in result.capabilities if c.selected):
        verdict = capability.verdict
        expected = sum(1 for c in capability.checks if c.expected)
        note = f" ({expected} expected)" if expected else ""
        if capability.reason:
            note += f" [dim]{escape(capability.reason[:100])}[/]"
        table.add_row(capability.name, f"[{STYLE[verdict]}]{verdict}[/]{note}", str(capability.count("passed")),
                      str(capability.count("failed")), str(capability.count("blocked")),
                      str(capability.count("skipped")), capability.percent_text)
    console.print(table)
    unselected = [c.name for c in result.capabilities if not c.selected]
    if unselected:
        console.print(f"Not selected: {', '.join(unselected)}", style="dim", highlight=False, soft_wrap=True)
    console.print(f"Score: [bold]{escape(result.score_text)}[/] (mean of the checked capabilities' pass "
                  f"percentages); {len(result.checks)} checks in {result.duration:.0f} s", highlight=False)
    limits = result.rate_limiting
    if limits["answers_429"]:
        console.print(f"Rate limiting: the target answered 429 {limits['answers_429']} times in {limits['checks']} "
                      f"checks; waited {limits['waited_s']:.0f} s in all and retried (not counted as failures; "
                      f"{limits['without_retry_after']} without Retry-After)", highlight=False)
    for error in result.errors:
        console.print(f"[bold red]error:[/] {escape(error[:2000])}", highlight=False)
    for note in result.notes:
        console.print(f"[bold red]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    if result.baseline is not None:
        console.print(f"Baseline: {sum(1 for c in result.checks if c.expected)} expected failures, "
                      f"{len(result.new_failures)} new, {len(result.fixed)} fixed")
        for entry in result.fixed:
            console.print(f"  [green]fixed[/] {escape(entry)} (remove it from the baseline)", highlight=False)
    if result.baseline is not None:
        for check in result.new_failures:
            console.print(f"  [red]new failure[/] {escape(check.id)}: {escape(check.message[:200])}", highlight=False)
    print_fix_first(result, console)
    for problem in result.certification_problems[:50]:
        console.print(f"  [red]not certifiable[/] {escape(problem[:200])}", highlight=False)
    outcome = "[bold green]PASSED[/]" if result.exit_status == 0 else "[bold red]FAILED[/]"
    console.print(f"Result: {outcome}")


def print_fix_first(result: RunResult, console: Console) -> None:
    failures = result.fix_first
    if not failures:
        return
    blocked = sum(c.blocks for c in failures)
    console.print(f"[bold]What to fix first[/] ({len(failures)} unexpected failures, root causes first; "
                  f"{blocked} checks blocked by them):", soft_wrap=True)
    for n, check in enumerate(failures[:FIX_FIRST], 1):
        root = f" [cyan](root cause: blocks {check.blocks} checks)[/]" if check.blocks else ""
        console.print(f" {n}. [{'red' if check.strength == 'MUST' else 'yellow'}]{check.strength}[/] "
                      f"{escape(check.id)}{root}: {escape(check.message)}", highlight=False, soft_wrap=True)
        if check.reproduce:
            console.print(f"    {check.reproduce}", highlight=False, markup=False, soft_wrap=True)
        if check.response:
            console.print("\n".join("    " + line for line in check.response.splitlines()),
                          highlight=False, markup=False, soft_wrap=True)
    if len(failures) > FIX_FIRST:
        console.print(f"    ... and {len(failures) - FIX_FIRST} more (see the reports)")


__all__ = ["Console", "print_header", "print_summary", "progress_printer"]
