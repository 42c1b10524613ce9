"""`smsgate-sim run` with the two APIs at prefixes of their own (the reference server behind a prefix proxy):
green with --mobile-url/--thirdparty-url, and a wrong prefix named once, with the prefixes tried."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from browser import Browser, browser  # noqa: F401 - the fixture
from live_server import LiveServer
from prefix_proxy import RunningProxy, running_proxy

pytestmark = pytest.mark.slow
SERIES = ".series polyline, .series path, .series circle, .series rect"


def _sim(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGATE_SIM_")}
    return subprocess.run([sys.executable, "-m", "simulator.cli", "run", "--no-live", *args], env=env,
                          capture_output=True, text=True, timeout=90)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> object:
    workdir = tmp_path_factory.mktemp("server")
    with LiveServer(workdir) as server, running_proxy(server.base_url) as running:
        yield running


def test_a_run_behind_the_proxy_is_green_and_its_report_reads_in_a_browser(
        proxy: RunningProxy, browser: Browser, tmp_path: Path) -> None:  # noqa: F811
    result = _sim("--mobile-url", proxy.mobile_url, "--thirdparty-url", proxy.thirdparty_url, "--devices", "4",
                  "--phones-per-account", "2", "--rate", "4", "--duration", "3", "--grace", "15",
                  "--failure-rate", "0.3", "--seed", "7", "--sent-latency", "0.05,0.2",
                  "--delivered-latency", "0.1,0.3", "--report", str(tmp_path / "r.json"),
                  "--html", str(tmp_path / "r.html"))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    messages = report["messages"]
    assert messages["accepted"] == messages["attempted"] == 12 and messages["final"] == 12
    assert report["run"]["mobile_url"] == proxy.mobile_url and report["run"]["thirdparty_url"] == proxy.thirdparty_url
    assert {name: api["not_found"] for name, api in report["apis"].items()} == {"mobile": 0, "3rd-party": 0}
    assert report["apis"]["mobile"]["requests"] > 0 and report["apis"]["3rd-party"]["requests"] >= 13
    assert "verdict          GREEN" in result.stdout and "404" not in result.stdout
    failed = [item["id"] for item in report["failed"]]
    assert len(failed) == messages["final_states"].get("Failed", 0) > 0  # seed 7: some of the 12 fail
    page = (tmp_path / "r.html").read_text()
    assert all(message_id in page for message_id in failed)
    for setting in ("failure rate", "0.3", "0.05–0.2 s", "0.1–0.3 s", "seed", ">7<", "accepted/s"):
        assert setting in page, setting
    for width in (1400, 420):
        browser.open(tmp_path / "r.html", width=width)
        assert browser.overflow() == [], width
        assert browser.chart_count("svg.chart") == 5
        assert browser.charts_without_series("svg.chart", SERIES) == [], width


def test_a_wrong_prefix_is_named_once_with_the_prefixes_tried(proxy: RunningProxy, tmp_path: Path) -> None:
    # --server alone: the default prefixes, which the proxy does not serve
    result = _sim("--server", proxy.base_url, "--devices", "2", "--phones-per-account", "2", "--rate", "2",
                  "--duration", "1", "--grace", "2", "--report", str(tmp_path / "r.json"))
    assert result.returncode == 3, result.stdout + result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    reasons = report["verdict"]["reasons"]
    assert reasons[0].startswith(f"every request to the mobile API answered 404 (1 at {proxy.base_url}/api/mobile/v1)")
    assert "tried /api/mobile/v1, /mobile/v1" in reasons[0] and "--mobile-url" in reasons[0]
    assert reasons[2] == "2 of 2 phones failed to register"
    # said once: in the verdict, not once per phone or per request
    assert result.stdout.count("every request to the mobile API answered 404") == 1
    assert "x1 phone N (new account): refused: 404" in result.stdout
    assert "x1 phone N (Basic join): not tried, its account's first phone never registered" in result.stdout
    assert [s["detail"][:28] for s in report["errors"]["samples"]] == ["phone 0 (new account): refus",
                                                                      "phone 1 (Basic join): not tr"]
