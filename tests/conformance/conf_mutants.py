"""The mutation check of the conformance suite: each patch under mutants/ is a small, deliberate contract
violation. One at a time, in a temporary copy of the server, it is applied (`patch -p1`), the reference
servers start from that copy, and the suite (the real one, a lighter schemathesis profile) runs against them.
Every mutant must make the suite fail; the table names the capabilities that caught it.

    python tests/conformance/conf_mutants.py [--jobs 2] [--json mutants.json] [--expected-only] [NAME ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from conf_reference import ROOT, reference_targets, suite_command

MUTANTS = Path(__file__).resolve().parent / "mutants"
COPIED = ("reference_server", "openapi")
# The checks whose server behaviour has not landed fail on every copy: a mutant must cause another failure.
NOT_LANDED = Path(__file__).resolve().parent / "not_landed.txt"
# --strict: a mutant may break a SHOULD only (its check then fails the run instead of a Non-strict verdict).
SUITE_OPTIONS = ("--examples", "3", "--push-wait", "12", "--baseline", str(NOT_LANDED), "--strict")


@dataclass
class Outcome:
    name: str
    violation: str
    expected: str
    caught_by: list[str] = field(default_factory=list)
    exit_status: int | None = None
    seconds: float = 0.0
    problem: str = ""

    @property
    def killed(self) -> bool:
        return not self.problem and self.exit_status not in (None, 0) and bool(self.caught_by)

    @property
    def result(self) -> str:
        return "killed" if self.killed else ("ERROR" if self.problem else "SURVIVED")


def header(patch: Path) -> tuple[str, str]:
    fields = dict(line.split(": ", 1) for line in patch.read_text().splitlines()[:3] if ": " in line)
    return fields.get("Mutant", patch.stem), fields.get("Expected-capability", "?")


def run_mutant(patch: Path, reports: Path | None = None, options: tuple[str, ...] = SUITE_OPTIONS) -> Outcome:
    violation, expected = header(patch)
    outcome = Outcome(patch.stem, violation, expected)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{patch.stem}-") as tmp:
        work = Path(tmp)
        source = work / "src"
        for name in COPIED:
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        applied = subprocess.run(["patch", "-p1", "--forward", "--batch", "-d", str(source), "-i", str(patch)],
                                 capture_output=True, text=True)
        if applied.returncode != 0:
            outcome.problem = f"patch does not apply: {applied.stdout.strip()} {applied.stderr.strip()}"
            return outcome
        report = work / "report.json"
        try:
            with reference_targets(work, "sqlite", source=source) as targets:
                command = suite_command(targets, *options, "--json", str(report))
                done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
                outcome.exit_status = done.returncode
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            outcome.problem = f"the mutated server did not start: {str(exc)[:500]}"
            return outcome
        finally:
            outcome.seconds = time.monotonic() - started
        if report.exists():
            if reports is not None:
                shutil.copy(report, reports / f"{patch.stem}.json")
            document = json.loads(report.read_text())
            outcome.caught_by = [c["name"] for c in document["capabilities"]
                                 if any(k["outcome"] == "failed" and not k["expected"] for k in c["checks"])]
        else:
            outcome.problem = f"no report (exit {done.returncode}): {done.stdout[-1000:]} {done.stderr[-1000:]}"
    return outcome


def table(outcomes: list[Outcome]) -> str:
    lines = [f"{'mutant':<30} {'expected':<13} {'result':<8} {'s':>5}  caught by", "-" * 100]
    for o in outcomes:
        caught = ", ".join(o.caught_by) if o.caught_by else o.problem[:60]
        mark = "" if o.expected in o.caught_by or not o.killed else "  (not by the expected capability)"
        lines.append(f"{o.name:<30} {o.expected:<13} {o.result:<8} {o.seconds:>5.0f}  {caught}{mark}")
    killed = sum(o.killed for o in outcomes)
    lines.append(f"{killed}/{len(outcomes)} mutants killed")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="only these mutants (file stems)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (each starts two servers)")
    parser.add_argument("--json", metavar="FILE", help="write the outcomes here")
    parser.add_argument("--expected-only", action="store_true",
                        help="run only each mutant's expected capability (a quick check of a new mutant)")
    parser.add_argument("--reports", metavar="DIR", type=Path, help="keep each mutant's suite report (JSON) here")
    args = parser.parse_args(argv)
    patches = sorted(MUTANTS.glob("*.patch"))
    if args.names:
        patches = [p for p in patches if p.stem in args.names or p.stem.split("-", 1)[-1] in args.names]
    started = time.monotonic()
    if args.reports:
        args.reports.mkdir(parents=True, exist_ok=True)
    print(f"{len(patches)} mutants, {args.jobs} at a time", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_mutant, patch, args.reports,
                               SUITE_OPTIONS + (("--only", header(patch)[1]) if args.expected_only else ()))
                   for patch in patches]
        for done, future in enumerate(as_completed(futures), 1):
            o = future.result()
            print(f"[{done:>2}/{len(patches)}] {o.name}: {o.result} in {o.seconds:.0f} s", flush=True)
    outcomes = [future.result() for future in futures]
    print(table(outcomes))
    print(f"{len(outcomes)} mutants in {time.monotonic() - started:.0f} s ({args.jobs} at a time)")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(o) | {"killed": o.killed} for o in outcomes], indent=2))
    return 0 if outcomes and all(o.killed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
