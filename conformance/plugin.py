"""The pytest plugin of a run: capability markers, selection, outcome collection and live progress."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from .capabilities import BY_NAME
from .results import CheckResult, Outcome

Progress = Callable[[CheckResult, int, int], None]


def capability_of(item: pytest.Item) -> str:
    marker = item.get_closest_marker("capability")
    return str(marker.args[0]) if marker and marker.args else "unmarked"


def _summary(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).strip()
    return str(report.longrepr).strip().splitlines()[-1] if report.longrepr else ""


class ConformancePlugin:
    def __init__(self, selected: list[str], progress: Progress | None = None) -> None:
        self.selected = set(selected)
        self.progress = progress
        self.results: dict[str, CheckResult] = {}
        self.errors: list[str] = []
        self.total = 0
        self._started: dict[str, float] = {}

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "capability(name): the capability a check belongs to")
        config.addinivalue_line("markers", "should: a SHOULD of the contract (its failure is Non-strict)")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(f"collecting {report.nodeid}: {str(report.longrepr)[-2000:]}")

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        keep, drop = [], []
        for item in items:
            name = capability_of(item)
            if name not in BY_NAME:
                self.errors.append(f"{item.nodeid}: no known capability marker ({name})")
            (keep if name in self.selected else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep
        self.total = len(keep)

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self._started[nodeid] = time.monotonic()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        report.capability = capability_of(item)  # type: ignore[attr-defined]
        report.strength = "SHOULD" if item.get_closest_marker("should") else "MUST"  # type: ignore[attr-defined]
        report.check_name = item.name  # type: ignore[attr-defined]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        nodeid = report.nodeid
        existing = self.results.get(nodeid)
        outcome: Outcome | None = None
        if report.failed:
            outcome = "failed"
        elif report.skipped:
            outcome = "skipped"
        elif report.when == "call":
            outcome = "passed"
        if outcome is None or (existing is not None and existing.outcome == "failed"):
            return
        if existing is not None and outcome == "passed":
            return
        name = getattr(report, "check_name", nodeid.rsplit("::", 1)[-1])
        capability = getattr(report, "capability", "unmarked")
        prefix = "" if report.when == "call" or outcome == "skipped" else f"{report.when}: "
        self.results[nodeid] = CheckResult(
            id=f"{capability}::{name}", nodeid=nodeid, capability=capability,
            strength=getattr(report, "strength", "MUST"), outcome=outcome, message=prefix + _summary(report),
            details=str(report.longrepr) if outcome == "failed" else "",
            duration=time.monotonic() - self._started.get(nodeid, time.monotonic()))

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        result = self.results.get(nodeid)
        if result is not None and self.progress is not None:
            self.progress(result, len(self.results), self.total)
