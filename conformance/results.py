"""Outcomes, verdicts and scores.

Per capability (Autobahn's tiers):
* Fail — a MUST check failed;
* Missing — nothing ran: the target lacks the feature or its prerequisites (every check skipped);
* Non-strict — only SHOULD checks failed;
* Pass — everything that ran passed.

A capability's percentage is passed checks / all its checks (skips count as not passed); the overall
score is the mean of the selected capabilities' percentages, so each capability weighs the same
however many checks it has (as the Interop focus areas do).
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .capabilities import BY_NAME

Outcome = Literal["passed", "failed", "skipped"]
VERDICTS = ("Pass", "Non-strict", "Fail", "Missing", "Not selected")


@dataclass
class CheckResult:
    id: str  # "<capability>::<test name>": what baselines list
    nodeid: str
    capability: str
    strength: Literal["MUST", "SHOULD"]
    outcome: Outcome
    message: str = ""  # the failure's summary or the skip reason
    details: str = ""  # the full failure report
    duration: float = 0.0
    expected: bool = False  # a failure the baseline expects


@dataclass
class CapabilityResult:
    name: str
    checks: list[CheckResult] = field(default_factory=list)
    selected: bool = True

    @property
    def title(self) -> str:
        capability = BY_NAME.get(self.name)
        return capability.title if capability else self.name

    def count(self, outcome: Outcome) -> int:
        return sum(1 for check in self.checks if check.outcome == outcome)

    @property
    def verdict(self) -> str:
        if not self.selected:
            return "Not selected"
        failed = [c for c in self.checks if c.outcome == "failed"]
        if any(c.strength == "MUST" for c in failed):
            return "Fail"
        if not self.checks or all(c.outcome == "skipped" for c in self.checks):
            return "Missing"
        return "Non-strict" if failed else "Pass"

    @property
    def percent(self) -> float:
        return 100.0 * self.count("passed") / len(self.checks) if self.checks else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "verdict": self.verdict, "percent": round(self.percent, 1),
                "passed": self.count("passed"), "failed": self.count("failed"), "skipped": self.count("skipped"),
                "checks": [asdict(check) for check in self.checks]}


@dataclass
class Baseline:
    """Expected failures of one implementation: check ids or fnmatch patterns (`jwt::*`), one a line."""

    entries: list[str]

    @classmethod
    def read(cls, path: str | Path) -> Baseline:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return cls([line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")])

    def expects(self, check_id: str) -> bool:
        return any(fnmatch.fnmatchcase(check_id, entry) for entry in self.entries)

    @staticmethod
    def write(path: str | Path, failures: list[str], target: str) -> None:
        header = [f"# smsgate-conformance baseline for {target}",
                  "# Expected failures, one check id (or fnmatch pattern) a line. The run fails on failures",
                  "# not listed here and reports listed checks that now pass (delete those lines)."]
        Path(path).write_text("\n".join(header + sorted(set(failures))) + "\n", encoding="utf-8")


@dataclass
class RunResult:
    target: str
    capabilities: list[CapabilityResult]
    duration: float = 0.0
    errors: list[str] = field(default_factory=list)  # collection or harness errors: the run is invalid
    baseline: Baseline | None = None
    certify: bool = False
    strict: bool = False

    @property
    def checks(self) -> list[CheckResult]:
        return [check for capability in self.capabilities for check in capability.checks]

    @property
    def score(self) -> float:
        chosen = [c for c in self.capabilities if c.selected]
        return sum(c.percent for c in chosen) / len(chosen) if chosen else 0.0

    def apply_baseline(self) -> None:
        for check in self.checks:
            check.expected = check.outcome == "failed" and self.baseline is not None and self.baseline.expects(check.id)

    @property
    def new_failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.outcome == "failed" and not c.expected
                and (c.strength == "MUST" or self.strict)]

    @property
    def fixed(self) -> list[str]:
        """Baseline entries that match passing checks and no failing one."""
        if self.baseline is None:
            return []
        fixed = []
        for entry in self.baseline.entries:
            hits = [c for c in self.checks if fnmatch.fnmatchcase(c.id, entry)]
            if hits and all(c.outcome == "passed" for c in hits):
                fixed.append(entry)
        return fixed

    @property
    def certification_problems(self) -> list[str]:
        if not self.certify:
            return []
        problems = [f"{c.name}: not selected" for c in self.capabilities if not c.selected]
        problems += [f"{c.id}: skipped ({c.message})" for c in self.checks if c.outcome == "skipped"]
        return problems

    @property
    def exit_status(self) -> int:
        return 1 if self.errors or self.new_failures or self.certification_problems else 0

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "score": round(self.score, 1), "duration": round(self.duration, 1),
                "exit_status": self.exit_status, "certify": self.certify, "strict": self.strict, "errors": self.errors,
                "new_failures": [c.id for c in self.new_failures], "fixed": self.fixed,
                "certification_problems": self.certification_problems,
                "capabilities": [c.as_dict() for c in self.capabilities]}
