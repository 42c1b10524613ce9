"""Verdicts that mean what they say, against a real reference server: with JWT off (its token endpoint answers
501), no FCM and no private mode, those capabilities read Missing or Not checked, never Pass, and the score
counts only what was checked and says what was not."""

from __future__ import annotations

from pathlib import Path

import pytest
from conf_reference import run_suite, single_target

pytestmark = pytest.mark.slow


def test_features_off_are_never_pass(tmp_path: Path) -> None:
    with single_target(tmp_path, JWT__SECRET="") as server:
        document, out = run_suite(server, tmp_path / "report.json",
                                  "--only", "jwt,fcm,relay,private-mode,health")
    verdicts = {c["name"]: c["verdict"] for c in document["capabilities"] if c["verdict"] != "Not selected"}
    assert verdicts == {"jwt": "Missing", "fcm": "Not checked", "relay": "Not checked",
                        "private-mode": "Not checked", "health": "Pass"}, out[-3000:]
    reasons = {c["name"]: c["reason"] for c in document["capabilities"]}
    assert "JWT is disabled" in reasons["jwt"] and "--fcm-credentials" in reasons["fcm"]
    assert "--private-token" in reasons["private-mode"]
    assert document["score"] == 100.0 and document["not_checked"] == ["jwt", "fcm", "relay", "private-mode"]
    assert "100.0% over 1 checked capabilities; 4 not checked" in out and "jwt: Missing" in out
    assert document["exit_status"] == 0  # not a failure of the server (--certify would make it one)
