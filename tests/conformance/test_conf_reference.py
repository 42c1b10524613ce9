"""CI's run of the conformance suite: the reference server (SQLite, public + private instances and a second
process of the public one, FCM pointed at the suite, the CA mounted, the relay pointed at the suite) must pass
every capability in certification mode; and a deliberately broken server must fail it. `nox -s conformance`
is the full run (MariaDB too).

The suite's new checks are judged on the same run, one test each, and each must pass: every behaviour they
check has landed in the server (not_landed.txt, the run's baseline, lists none). Each new check is proven
able to fail by a mutant in mutants/ (see conf_mutants.py)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conf_mutants import MUTANTS, run_mutant
from conf_reference import ROOT, reference_targets, suite_command

from conformance.capabilities import CAPABILITIES

pytestmark = pytest.mark.slow


NOT_LANDED = Path(__file__).with_name("not_landed.txt")  # checks whose server behaviour is still to come



@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Any, Path]]:
    """One certification run against the reference server: its JSON report, the process, the report dir."""
    tmp_path = tmp_path_factory.mktemp("reference-run")
    report = tmp_path / "report.json"
    with reference_targets(tmp_path, "sqlite") as targets:
        done = subprocess.run(suite_command(targets, "--examples", "4", "--certify", "--strict", "--json",
                                            str(report), "--baseline", str(NOT_LANDED), "--junit-xml",
                                            str(tmp_path / "report.xml"), "--html", str(tmp_path / "report.html")),
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    yield json.loads(report.read_text()), done, tmp_path


def test_reference_server_passes_every_capability(reference_run: tuple[dict[str, Any], Any, Path]) -> None:
    document, done, tmp_path = reference_run
    verdicts = {c["name"]: c["verdict"] for c in document["capabilities"]}
    failures = [f"{c['id']}: {c['message']}" for cap in document["capabilities"] for c in cap["checks"]
                if c["outcome"] != "passed" and not c["expected"] and c["core"]]
    awaiting = {c["capability"] for cap in document["capabilities"] for c in cap["checks"] if c["expected"]}
    assert not failures, "\n".join(failures)
    assert {n: v for n, v in verdicts.items() if n not in awaiting} == \
        {c.name: "Pass" for c in CAPABILITIES if c.name not in awaiting}, done.stdout[-3000:]
    assert done.returncode == 0 and not document["fixed"], done.stdout[-3000:]  # fixed: update not_landed.txt
    assert (tmp_path / "report.xml").stat().st_size and (tmp_path / "report.html").stat().st_size


def test_a_broken_server_fails_the_suite(tmp_path: Path) -> None:
    outcome = run_mutant(MUTANTS / "02-no-total-count.patch",
                         options=("--only", "listing", "--baseline", str(NOT_LANDED)))
    assert outcome.killed and outcome.caught_by == ["listing"], outcome


NEW_CHECKS: list[Any] = [
    pytest.param("send::test_send_option_reaches_the_phone", id="send-options"),
    pytest.param("jwt::test_cannot_mint_scopes_it_lacks", id="jwt-mint-scopes"),
    pytest.param("shared-state::test_revoked_token_refused_on_both", id="shared-revoked-token"),
    pytest.param("shared-state::test_code_from_a_works_once_on_b", id="shared-otp"),
    pytest.param("shared-state::test_password_changed_on_a_refused_on_b", id="shared-password"),
    pytest.param("shared-state::test_deleted_device_refused_on_both", id="shared-deleted-device"),
    pytest.param("relay::test_429_carries_retry_after", id="retry-after"),
    pytest.param("errors::test_control_characters_never_5xx", id="control-never-5xx"),
    pytest.param("errors::test_control_characters_refused", id="control-refused"),
    pytest.param("ca::test_refuses_weak_keys", id="ca-weak-keys"),
    pytest.param("listing::test_default_order_as_upstream", id="list-order"),
    pytest.param("settings::test_patch_null_section_keeps_it", id="settings-null-section"),
    pytest.param("settings::test_patch_breaking_min_max_refused", id="settings-min-max"),
    pytest.param("send::test_json_keys_in_any_case", id="json-key-case"),
    pytest.param("health::test_probes_carry_upstreams_check_set", id="health-check-set"),
    pytest.param("health::test_metrics_carry_upstreams_module_families", id="metrics-families"),
    pytest.param("device-keys::test_key_on_registration_and_rotation", id="device-keys"),
    pytest.param("device-keys::test_a_bad_key_version_is_refused", id="device-key-version"),
    pytest.param("device-keys::test_recipients_up_to_512_characters", id="recipients-512"),
    pytest.param("mms::test_send_then_read_back", id="mms-send"),
    pytest.param("mms::test_exactly_one_kind_of_content", id="mms-exactly-one"),
]


@pytest.mark.parametrize("name", NEW_CHECKS)
def test_new_check_passes_on_the_reference_server(reference_run: tuple[dict[str, Any], Any, Path], name: str) -> None:
    checks = [c for cap in reference_run[0]["capabilities"] for c in cap["checks"] if c["id"].split("[")[0] == name]
    assert checks, f"{name} did not run"
    failed = [f"{c['id']}: {c['outcome']} {c['message']}" for c in checks if c["outcome"] != "passed"]
    assert not failed, "\n".join(failed)


def test_the_baseline_lists_exactly_the_checks_not_landed() -> None:
    """not_landed.txt (the reference run's baseline) lists exactly the new checks marked as not landed (none)."""
    lines = NOT_LANDED.read_text().splitlines()
    listed = {line.strip().rstrip("*") for line in lines if line.strip() and not line.startswith("#")}
    assert listed == {p.values[0] for p in NEW_CHECKS if p.marks}
