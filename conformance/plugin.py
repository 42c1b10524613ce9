"""The pytest plugin of a run: capability markers, selection, outcome collection and live progress."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest

from .capabilities import BY_NAME
from .harness import blocking, repro, skips
from .harness.blocking import Blocked
from .harness.polite import POLITENESS
from .results import CheckResult

Progress = Callable[[CheckResult, int, int], None]


def capability_of(item: pytest.Item) -> str:
    marker = item.get_closest_marker("capability")
    return str(marker.args[0]) if marker and marker.args else "unmarked"


def _innermost(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _blocked(exc: BaseException) -> Blocked | None:
    """The `Blocked` behind a failure (inside Trio's exception groups too), if any."""
    exc = _innermost(exc)
    if isinstance(exc, Blocked):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        return next((found for inner in exc.exceptions if (found := _blocked(inner)) is not None), None)
    return None


TIMEOUTS = {"TooSlowError": "timed out (a deadline of the check passed with no answer)",
            "ReadTimeout": "timed out waiting for the response", "ConnectTimeout": "timed out connecting",
            "ConnectError": "could not connect", "RemoteProtocolError": "the server broke the connection"}


def _message(exc: BaseException) -> str:
    exc = _innermost(exc)
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(sorted(dict.fromkeys(_message(inner) for inner in exc.exceptions)))
    title = getattr(exc, "title", None)  # a schemathesis check failure
    if isinstance(title, str) and title and hasattr(exc, "elapsed") and hasattr(exc, "deadline"):
        return f"{title}: slower than the limit ({exc.deadline})"  # the time itself differs run to run
    if isinstance(title, str) and title:
        detail = " ".join(str(getattr(exc, "message", "")).split())
        return f"{title}: {detail}" if detail else title
    text = str(exc).split("\nassert ", 1)[0].strip()
    if isinstance(exc, AssertionError) and text:
        return text
    name = type(exc).__name__
    if name in TIMEOUTS:  # never a bare exception name: what happened, and where the request went
        request = getattr(exc, "request", None) if name != "TooSlowError" else None
        where = f" ({request.method} {request.url})" if request is not None else ""
        return f"{TIMEOUTS[name]}{where}" + (f": {text}" if text else "")
    return f"{name}: {text}" if text else name


def _summary(report: pytest.TestReport) -> str:
    if getattr(report, "check_message", None):
        return str(report.check_message)
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).strip()
    return str(report.longrepr).strip().splitlines()[-1] if report.longrepr else ""


# Upstream's legacy aliases and the date after which its code says they go: a SHOULD, not a MUST.
LEGACY_ALIASES = ((re.compile(r"/3rdparty/v1/message(?=[/\]\s]|$)"), "/message", "/messages", "2025-12-31"),
                  (re.compile(r"/3rdparty/v1/device(?=[/\]\s]|$)"), "/device", "/devices", "2025-07-11"))


def legacy_alias(name: str) -> str:
    """The note for a check of a deprecated legacy alias (by the operation in its name), else ""."""
    for pattern, alias, route, date in LEGACY_ALIASES:
        if pattern.search(name):
            return (f"deprecated legacy alias {alias} of {route} (upstream: \"remove after {date}\"), a SHOULD "
                    "until then")
    return ""


def _tail(traceback: str, lines: int = 12) -> str:
    kept = [line for line in traceback.splitlines() if "site-packages" not in line]
    return "\n".join(kept[-lines:])


class ConformancePlugin:
    def __init__(self, selected: list[str], progress: Progress | None = None, rerun: str = "") -> None:
        self.selected = set(selected)
        self.rerun = rerun  # the run's command line (secrets masked), to which a check's selection is added
        self.progress = progress
        self.results: dict[str, CheckResult] = {}
        self.results_by_id: dict[str, CheckResult] = {}
        self.errors: list[str] = []
        self.total = 0
        self.done = 0

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "capability(name): the capability a check belongs to")
        config.addinivalue_line("markers", "should: a SHOULD of the contract (its failure is Non-strict)")
        config.addinivalue_line("markers", "extra: not a core check (it needs another capability); its skip "
                                           "does not hold back the capability's verdict")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(f"collecting {report.nodeid}: {str(report.longrepr)[-2000:]}")

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            name = capability_of(item)
            if name not in BY_NAME:
                self.errors.append(f"{item.nodeid}: no known capability marker ({name})")
            (keep if name in self.selected else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
        # The checks that judge prerequisites run first: a check they block is then known as blocked at once.
        for item in keep:
            if legacy_alias(item.name):
                item.add_marker(pytest.mark.should)
        order = {root: n for n, root in enumerate(blocking.ROOTS)}
        keep.sort(key=lambda item: order.get(f"{capability_of(item)}::{item.name}", len(order)))
        items[:] = keep

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)  # after every plugin's deselection (-k included)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        report.capability = capability_of(item)  # type: ignore[attr-defined]
        report.strength = "SHOULD" if item.get_closest_marker("should") else "MUST"  # type: ignore[attr-defined]
        report.check_name = item.name  # type: ignore[attr-defined]
        report.core = item.get_closest_marker("extra") is None  # type: ignore[attr-defined]
        module = getattr(item, "module", None)
        report.contract = " ".join(str(getattr(module, "__doc__", "") or "").split("\n\n")[0].split())  # type: ignore[attr-defined]
        function = getattr(item, "originalname", None) or item.name.split("[", 1)[0]
        report.rerun = (f"{self.rerun} --only {report.capability} "  # type: ignore[attr-defined]
                        f"--pytest-arg=-k --pytest-arg={function}") if self.rerun else ""
        if report.failed:
            report.reproduce = repro.reproduction()  # type: ignore[attr-defined]
        if call.when == "teardown":
            noted = repro.inputs()
            report.inputs = (len(noted), hashlib.sha256("\n".join(noted).encode()).hexdigest() if noted else "")  # type: ignore[attr-defined]
            report.rate_limits = (POLITENESS.limited, POLITENESS.waited,  # type: ignore[attr-defined]
                                  POLITENESS.missing_retry_after)
        if call.excinfo is not None and report.failed:
            report.check_message = _message(call.excinfo.value)  # type: ignore[attr-defined]
            if legacy_alias(item.name):
                report.check_message = f"{legacy_alias(item.name)}: {report.check_message}"  # type: ignore[attr-defined]
            blocked = _blocked(call.excinfo.value)
            if blocked is not None:
                report.blocked_by = blocked.by  # type: ignore[attr-defined]
                report.check_message = blocked.why  # type: ignore[attr-defined]
            report.exchange = repro.exchange()  # type: ignore[attr-defined]
            inner = _innermost(call.excinfo.value)  # a verdict about the target needs no traceback
            report.plain = isinstance(inner, (AssertionError, BaseExceptionGroup)) or type(inner).__name__ in TIMEOUTS  # type: ignore[attr-defined]
        elif call.excinfo is not None and report.skipped:
            reason = getattr(_innermost(call.excinfo.value), "msg", None) or skips.last_reason()
            if reason:
                report.check_message = str(reason)  # type: ignore[attr-defined]

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        skips.forget()
        repro.forget()
        POLITENESS.reset_check()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        name = getattr(report, "check_name", report.nodeid.rsplit("::", 1)[-1])
        capability = getattr(report, "capability", "unmarked")
        key = f"{report.nodeid}::{name}"  # schemathesis' items share one nodeid per test function
        result = self.results.get(key)
        if result is None:
            result = self.results[key] = CheckResult(
                id=f"{capability}::{name}", nodeid=report.nodeid, capability=capability,
                strength=getattr(report, "strength", "MUST"), outcome="passed", core=getattr(report, "core", True))
            self.results_by_id[result.id] = result
        result.duration += report.duration
        if report.when == "teardown":
            result.inputs, result.inputs_sha256 = getattr(report, "inputs", (0, ""))
            result.rate_limited, wait, result.missing_retry_after = getattr(report, "rate_limits", (0, 0.0, 0))
            result.rate_limit_wait = round(wait, 1)
        if report.when == "teardown" and result.outcome == "failed" and result.rate_limited and "429" in result.message:
            result.message = f"rate limited (still 429 after {result.rate_limited} waits): {result.message}"
        if report.failed and result.outcome not in ("failed", "blocked"):
            prefix = "" if report.when == "call" or hasattr(report, "blocked_by") else f"{report.when}: "
            result.outcome, result.message = "failed", prefix + _summary(report)
            result.blocked_by = getattr(report, "blocked_by", "")
            result.response = getattr(report, "exchange", ("", ""))[1]
            # A traceback only for what is not a verdict about the target (a harness error): its last lines.
            result.details = "" if getattr(report, "plain", True) else _tail(str(report.longrepr))
            result.reproduce = getattr(report, "reproduce", "")
            result.contract, result.rerun = getattr(report, "contract", ""), getattr(report, "rerun", "")
            root = self.results_by_id.get(result.blocked_by)
            if root is not None and root.outcome in ("failed", "blocked") and root is not result:
                result.outcome = "blocked"  # its root already failed (roots run first); final in RunResult
                result.blocked_by = root.blocked_by or root.id
                result.message = f"blocked by {result.blocked_by}: {result.message}"
        elif report.skipped and result.outcome == "passed":
            result.outcome, result.message = "skipped", _summary(report)
        if report.when == "teardown" and self.progress is not None:
            self.done += 1
            self.progress(result, self.done, self.total)
