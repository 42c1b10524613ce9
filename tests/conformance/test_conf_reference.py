"""CI's run of the conformance suite: the reference server (SQLite, public + private instances, FCM pointed
at the suite, the CA mounted, the relay pointed at the suite) must pass every capability in certification
mode; and a deliberately broken server must fail it. `nox -s conformance` is the full run (MariaDB too)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conf_mutants import MUTANTS, run_mutant
from conf_reference import ROOT, reference_targets, suite_command

from conformance.capabilities import CAPABILITIES

pytestmark = pytest.mark.slow


def test_reference_server_passes_every_capability(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    with reference_targets(tmp_path, "sqlite") as targets:
        done = subprocess.run(suite_command(targets, "--examples", "4", "--certify", "--strict", "--json",
                                            str(report), "--junit-xml", str(tmp_path / "report.xml"), "--html",
                                            str(tmp_path / "report.html")),
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
    document = json.loads(report.read_text())
    verdicts = {c["name"]: c["verdict"] for c in document["capabilities"]}
    failures = [f"{c['id']}: {c['message']}" for cap in document["capabilities"] for c in cap["checks"]
                if c["outcome"] != "passed"]
    assert verdicts == {c.name: "Pass" for c in CAPABILITIES}, "\n".join(failures) or done.stdout[-3000:]
    assert done.returncode == 0 and document["score"] == 100.0, done.stdout[-3000:]
    assert (tmp_path / "report.xml").stat().st_size and (tmp_path / "report.html").stat().st_size


def test_a_broken_server_fails_the_suite(tmp_path: Path) -> None:
    outcome = run_mutant(MUTANTS / "02-no-total-count.patch", options=("--only", "listing"))
    assert outcome.killed and outcome.caught_by == ["listing"], outcome
