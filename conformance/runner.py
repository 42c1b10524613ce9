"""One run: pytest over the scenarios shipped in this package (the schema checks are scenarios too),
in this process, with the settings activated for them; then verdicts, baseline and reports."""

from __future__ import annotations

import shlex
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from . import capabilities
from .harness import repro
from .harness.polite import POLITENESS
from .plugin import ConformancePlugin, Progress
from .results import Baseline, CapabilityResult, CheckResult, RunResult
from .settings import Settings, activate, shown_options

SCENARIOS = Path(__file__).resolve().with_name("scenarios")


def selected_capabilities(settings: Settings) -> list[str]:
    chosen = capabilities.resolve(settings.capabilities) if settings.capabilities else \
        [c.name for c in capabilities.CAPABILITIES]
    skipped = set(capabilities.resolve(settings.skip)) if settings.skip else set()
    return [name for name in chosen if name not in skipped]


def reachable(settings: Settings) -> str | None:
    """None when the target answers HTTP at all; else why not."""
    try:
        httpx.get(settings.server.rstrip("/") + "/", timeout=settings.request_timeout)
    except httpx.HTTPError as exc:
        return f"{settings.server} is not reachable: {exc!r}"
    return None


def pytest_arguments(settings: Settings) -> list[str]:
    args = [str(SCENARIOS), "-c", str(SCENARIOS / "pytest.ini"), "--rootdir", str(SCENARIOS),
            "-p", "no:cacheprovider", "-p", "no:randomly"]
    if not settings.verbose:
        args += ["-p", "no:terminal"]
    return args + list(settings.pytest_args)


def rerun_command(settings: Settings) -> str:
    """The command line that points a run at the same target (secrets left as placeholders)."""
    parts = ["smsgate-conformance", "--server", settings.server]
    parts += [a for url in settings.also for a in ("--server", url)]
    for option in ("api_path", "mobile_url", "thirdparty_url", "private_server", "ca", "fcm_credentials",
                   "relay_listen", "login"):
        value = getattr(settings, option)
        if value is not None and value != getattr(Settings(), option):
            parts += [f"--{option.replace('_', '-')}", str(value)]
    if settings.password:
        parts += ["--password", "'***'"]
    if settings.private_token:
        parts += ["--private-token", "'***'"]
    parts += ["--seed", str(settings.seed)]
    return " ".join(shlex.quote(p) if p != "'***'" else p for p in parts)


def api_notes(settings: Settings) -> list[str]:
    """An API every request of the run to which answered 404: said once, with the prefixes tried."""
    notes = []
    for name in repro.all_404():
        base = repro.apis[name]
        option = "--mobile-url" if name == "mobile" else "--thirdparty-url"
        tried = probe_prefixes(settings, "mobile/v1" if name == "mobile" else "3rdparty/v1")
        notes.append(f"every request to the {name} API at {base} answered 404: is the prefix right? Give its base "
                     f"URL with {option} (or --api-path). Prefixes tried: {tried}")
    return notes


def probe_prefixes(settings: Settings, group: str) -> str:
    """What GET without credentials answers under the usual prefixes of an API group (404 means not there)."""
    root = settings.server.rstrip("/")
    seen = []
    own = "/" + settings.api_path.strip("/") if settings.api_path.strip("/") else ""
    for prefix in dict.fromkeys([own, "/api", ""]):
        url = f"{root}{prefix}/{group}" + ("/device" if group.startswith("mobile") else "/devices")
        try:
            status = str(httpx.get(url, timeout=settings.request_timeout).status_code)
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        seen.append(f"{prefix}/{group} -> {status}")
    return ", ".join(seen)


def run(settings: Settings, progress: Progress | None = None) -> RunResult:
    chosen = selected_capabilities(settings)
    baseline = Baseline.read(settings.baseline) if settings.baseline else None
    started = time.monotonic()
    result = RunResult(settings.server, [], baseline=baseline, certify=settings.certify, strict=settings.strict,
                       seed=settings.seed, options=shown_options(settings))
    checks: dict[str, list[CheckResult]] = {}
    problem = reachable(settings)
    if problem:
        result.errors.append(problem)
    else:
        activate(settings)
        POLITENESS.max_rps = settings.max_rps
        for secret in (settings.password, settings.private_token):
            repro.add_secret(secret)
        plugin = ConformancePlugin(chosen, progress, rerun_command(settings))
        repro.apis.clear()
        repro.api_answers.clear()
        repro.apis.update({"mobile": settings.mobile, "3rd-party": settings.thirdparty})
        with tempfile.TemporaryDirectory(prefix="smsgate-conformance-") as scratch:
            # Hypothesis keeps state (its example database, constant caches) in ./.hypothesis by default: a run
            # must leave nothing in the user's working directory, and replays nothing from a previous run.
            from hypothesis.configuration import set_hypothesis_home_dir

            set_hypothesis_home_dir(scratch)
            try:
                status = pytest.main(pytest_arguments(settings), plugins=[plugin])
            finally:
                set_hypothesis_home_dir(None)
        result.errors.extend(plugin.errors)
        if status not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
            result.errors.append(f"pytest ended with {status!r}")
        for check in plugin.results.values():
            checks.setdefault(check.capability, []).append(check)
        result.notes = api_notes(settings)
    result.capabilities = [CapabilityResult(c.name, checks.get(c.name, []), selected=c.name in chosen)
                           for c in capabilities.CAPABILITIES]
    result.resolve_blocked()
    result.duration = time.monotonic() - started
    result.apply_baseline()
    if settings.write_baseline:
        Baseline.write(settings.write_baseline, [c.id for c in result.checks if c.outcome == "failed"],
                       settings.server)
    return result
