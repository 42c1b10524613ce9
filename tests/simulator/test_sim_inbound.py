"""`smsgate-sim run` against a live reference server: inbound SMS to the simulator's webhook receiver,
a threshold that fails (non-zero exit, marked in the summary, the JSON and the CSV files)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from live_server import LiveServer

pytestmark = pytest.mark.slow


def test_inbound_sms_reach_the_receiver_and_a_failing_threshold_exits_non_zero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGATE_SIM_")}
    with LiveServer(tmp_path) as server:
        result = subprocess.run(
            [sys.executable, "-m", "simulator.cli", "run", "--server", server.base_url, "--devices", "4",
             "--phones-per-account", "2", "--rate", "3", "--duration", "2", "--grace", "15",
             "--inbound-rate", "15", "--threshold", "send_to_delivered.p99<1ms", "--threshold", "lost==0",
             "--threshold", "inbound_lost==0", "--report", str(tmp_path / "r.json"), "--csv", str(tmp_path / "r"),
             "--no-live"],
            env=env, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 3, output
    report = json.loads((tmp_path / "r.json").read_text())
    inbound = report["inbound"]
    assert inbound["received"] == 30 and inbound["delivered"] == 30, inbound
    assert (inbound["lost"], inbound["duplicates"], inbound["foreign"]) == (0, 0, 0)
    assert inbound["acknowledged"] == 30 and inbound["latency_ms"]["count"] == 30
    assert 0 <= inbound["latency_ms"]["p50"] <= inbound["latency_ms"]["p99"]
    # Only the impossible threshold failed; sends and messages were all fine.
    assert [c["expression"] for c in report["verdict"]["checks"] if not c["ok"]] == ["send_to_delivered.p99<1ms"]
    assert report["messages"]["accepted"] == report["messages"]["attempted"] == 6
    assert "FAIL send_to_delivered.p99<1ms" in result.stdout and "ok   inbound_lost==0" in result.stdout
    assert "inbound SMS      30 received, 30 webhooks arrived, 0 lost" in result.stdout
    with (tmp_path / "r_stats.csv").open() as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    assert int(rows["sms:received"]["Request Count"]) == 30 and int(rows["sms:received"]["Failure Count"]) == 0
