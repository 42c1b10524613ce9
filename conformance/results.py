"""Outcomes, verdicts and scores.

Per capability (Autobahn's tiers), first match wins:
* Missing — the target lacks the feature: its core answered 501 or 404 (a check skipped as `missing: ...`);
* Fail — a MUST check failed;
* Not checked — a core check could not run for want of a prerequisite of the run (e.g. `--fcm-credentials`),
  named in the verdict's reason; nothing is claimed either way;
* Non-strict — only SHOULD checks failed;
* Pass — every core check ran and passed (a skipped `extra` check, one that needs another capability,
  does not hold it back).

A checked capability's percentage is passed checks / checks that ran; the overall score is the mean over the
checked capabilities (Pass, Non-strict, Fail) only, so each weighs the same however many checks it has (as
the Interop focus areas do), and the report says how many selected capabilities were not checked.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .capabilities import BY_NAME

Outcome = Literal["passed", "failed", "skipped", "blocked"]
VERDICTS = ("Pass", "Non-strict", "Fail", "Blocked", "Missing", "Not checked", "Not selected")
CHECKED = ("Pass", "Non-strict", "Fail")


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
    core: bool = True  # False: an `extra` check, whose skip does not hold back the capability's verdict
    reproduce: str = ""  # a failure's request as a curl line, secrets masked
    inputs: int = 0  # generated cases (schemathesis): how many, and a digest of them in order
    inputs_sha256: str = ""
    rate_limited: int = 0  # 429 answers waited out and retried during this check
    rate_limit_wait: float = 0.0
    missing_retry_after: int = 0  # of those, how many came without a usable Retry-After
    blocked_by: str = ""  # the root check whose failure kept this one from judging (outcome "blocked")
    blocks: int = 0  # a root cause: how many checks its failure blocked
    response: str = ""  # its response: status, headers, body excerpt
    contract: str = ""  # what the check's module judges, with the contract section
    rerun: str = ""  # a command that reruns just this check


    def sections(self) -> list[tuple[str, str, bool]]:
        """A failure as a server author reads it, in order: the request and its response, what was expected,
        what the check is about (with its contract section), how to rerun just it; (title, text, preformatted)."""
        parts = [("Request", self.reproduce, True), ("Response", self.response, True),
                 ("Expected", self.message, False), ("Contract", self.contract, False),
                 ("Rerun just this check", self.rerun, True), ("Harness error", self.details, True)]
        return [part for part in parts if part[1]]

    def report_text(self) -> str:
        """The sections as plain text, led by the one-line cause."""
        parts = [f"Cause: {self.message}"]
        for title, text, preformatted in self.sections():
            if title != "Expected":
                lines = "\n".join("  " + line for line in text.splitlines())
                parts.append(f"{title}:\n{lines}" if preformatted else f"{title}: {text}")
        return "\n\n".join(parts)


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

    def _skipped(self, prefix: str) -> list[str]:
        reasons = [c.message for c in self.checks if c.outcome == "skipped" and c.message.startswith(prefix)]
        return list(dict.fromkeys(reasons))

    @property
    def verdict(self) -> str:
        if not self.selected:
            return "Not selected"
        if self._skipped("missing:"):
            return "Missing"
        failed = [c for c in self.checks if c.outcome == "failed"]
        if any(c.strength == "MUST" for c in failed):
            return "Fail"
        if any(c.outcome == "blocked" and c.core for c in self.checks):
            return "Blocked"
        if not self.checks or any(c.outcome == "skipped" and c.core for c in self.checks):
            return "Not checked"
        return "Non-strict" if failed else "Pass"

    @property
    def reason(self) -> str:
        """Why a capability is Missing or Not checked (the skip reasons, once each)."""
        verdict = self.verdict
        if verdict == "Missing":
            return "; ".join(r.removeprefix("missing:").strip() for r in self._skipped("missing:"))
        if verdict == "Blocked":
            roots = sorted({c.blocked_by for c in self.checks if c.outcome == "blocked"})
            return "blocked by " + ", ".join(roots)
        if verdict == "Not checked":
            reasons = [c.message for c in self.checks if c.outcome == "skipped" and c.core]
            text = "; ".join(dict.fromkeys(r.removeprefix("prerequisite:").strip() for r in reasons))
            return ("needs " + text) if text else "no check ran"
        return ""

    @property
    def checked(self) -> bool:
        return self.verdict in CHECKED

    @property
    def percent(self) -> float:
        """Passed of the checks that judged (passed or failed): skipped and blocked checks are not judged."""
        ran = self.count("passed") + self.count("failed")
        return 100.0 * self.count("passed") / ran if ran else 0.0

    @property
    def percent_text(self) -> str:
        """The percentage with what it is over when not every check judged (a 100% of 1 of 3 says so)."""
        if not self.checked:
            return ""
        ran = self.count("passed") + self.count("failed")
        text = f"{self.percent:.0f}%"
        return text if ran == len(self.checks) else f"{text} ({self.count('passed')}/{ran}; {len(self.checks)} checks)"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "verdict": self.verdict, "reason": self.reason,
                "percent": round(self.percent, 1) if self.checked else None,
                "passed": self.count("passed"), "failed": self.count("failed"), "skipped": self.count("skipped"),
                "blocked": self.count("blocked"), "checks": [asdict(check) for check in self.checks]}


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
    seed: int | None = None
    options: dict[str, Any] = field(default_factory=dict)  # the run's settings (secrets masked) for the header
    notes: list[str] = field(default_factory=list)  # findings about the run as a whole (an API only ever 404)

    @property
    def header(self) -> str:
        """One line every output starts with: what was judged, with which seed and options."""
        from . import __version__

        shown = " ".join(f"--{k.replace('_', '-')}={v}" for k, v in self.options.items())
        line = f"smsgate-conformance {__version__} · {self.target} · seed {self.seed}"
        return line + (f" · {shown}" if shown else "")

    @property
    def checks(self) -> list[CheckResult]:
        return [check for capability in self.capabilities for check in capability.checks]

    @property
    def score(self) -> float:
        """The mean percentage of the checked capabilities (0 when none was checked)."""
        checked = [c for c in self.capabilities if c.checked]
        return sum(c.percent for c in checked) / len(checked) if checked else 0.0

    @property
    def not_checked(self) -> list[CapabilityResult]:
        """Selected capabilities the score leaves out: Missing or Not checked."""
        return [c for c in self.capabilities if c.selected and not c.checked]

    @property
    def score_text(self) -> str:
        checked = sum(1 for c in self.capabilities if c.checked)
        text = f"{self.score:.1f}% over {checked} checked capabilities"
        if self.not_checked:
            text += f"; {len(self.not_checked)} not checked (" + ", ".join(
                f"{c.name}: {c.verdict}" for c in self.not_checked) + ")"
        return text

    def resolve_blocked(self) -> None:
        """A check blocked by a root check that failed is "blocked by <root>" (the first root of a chain); one
        whose root passed or did not run failed on its own (its message says why)."""
        by_id = {c.id: c for c in self.checks}

        def root_of(check: CheckResult, depth: int = 0) -> CheckResult | None:
            root = by_id.get(check.blocked_by)
            if root is None or root is check or root.outcome != "failed" or depth > 10:
                return None
            return (root_of(root, depth + 1) if root.blocked_by else None) or root

        roots = {c.id: root_of(c) for c in self.checks if c.outcome == "failed" and c.blocked_by}
        for check in self.checks:
            if check.id not in roots:
                continue
            root = roots[check.id]
            if root is None:
                check.blocked_by = ""
            else:
                check.outcome, check.blocked_by = "blocked", root.id
                check.message = f"blocked by {root.id}: {check.message}"
        for check in self.checks:
            check.blocks = sum(1 for c in self.checks if c.outcome == "blocked" and c.blocked_by == check.id)

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
    def fix_first(self) -> list[CheckResult]:
        """What to fix first: failures the baseline does not expect, root causes (the most checks blocked) first,
        then MUST before SHOULD, in run order."""
        failed = [c for c in self.checks if c.outcome == "failed" and not c.expected]
        return sorted(failed, key=lambda c: (-c.blocks, c.strength != "MUST"))

    @property
    def root_causes(self) -> list[CheckResult]:
        """The failures that blocked other checks, the most blocking first."""
        return [c for c in self.fix_first if c.blocks]

    @property
    def rate_limiting(self) -> dict[str, Any]:
        limited = [c for c in self.checks if c.rate_limited]
        return {"answers_429": sum(c.rate_limited for c in limited), "checks": len(limited),
                "waited_s": round(sum(c.rate_limit_wait for c in limited), 1),
                "without_retry_after": sum(c.missing_retry_after for c in limited)}

    @property
    def certification_problems(self) -> list[str]:
        if not self.certify:
            return []
        problems = [f"{c.name}: not selected" for c in self.capabilities if not c.selected]
        problems += [f"{c.id}: skipped ({c.message})" for c in self.checks if c.outcome == "skipped" and c.core]
        return problems

    @property
    def exit_status(self) -> int:
        return 1 if self.errors or self.new_failures or self.certification_problems else 0

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "seed": self.seed, "options": self.options, "score": round(self.score, 1),
                "score_text": self.score_text, "not_checked": [c.name for c in self.not_checked],
                "rate_limiting": self.rate_limiting, "fix_first": [c.id for c in self.fix_first],
                "duration": round(self.duration, 1),
                "exit_status": self.exit_status, "certify": self.certify, "strict": self.strict, "errors": self.errors,
                "root_causes": [{"id": c.id, "blocks": c.blocks, "message": c.message} for c in self.root_causes],
                "failures": [c.id for c in self.fix_first],
                "blocked": len([c for c in self.checks if c.outcome == "blocked"]),
                "new_failures": [c.id for c in self.new_failures] if self.baseline is not None else None,
                "notes": self.notes, "fixed": self.fixed,
                "certification_problems": self.certification_problems,
                "capabilities": [c.as_dict() for c in self.capabilities]}
