"""The simulator's HTML report in a real browser (Debian's headless Chromium): a normal run and a run during
which the server was down for a few seconds. No sideways overflow at 1400 px and at 420 px, every chart
draws its series, and the outage's failed sends are in the verdict."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio
from browser import Browser, browser  # noqa: F401 - the fixture
from live_server import LiveServer
from rich.console import Console
from sim_fakes import FakeServer, factory

from simulator.load import RunConfig, RunHooks, run_load
from simulator.report import render_html

SERIES = ".series polyline, .series path, .series circle, .series rect"
WIDTHS = (1400, 420)


def _check_page(browser: Browser, page: Path) -> None:  # noqa: F811
    for width in WIDTHS:
        browser.open(page, width=width)
        assert browser.inner_width == width
        assert browser.overflow() == [], width
        assert browser.chart_count("svg.chart") == 5
        assert browser.charts_without_series("svg.chart", SERIES) == [], width


def test_a_normal_run_reads_at_desktop_and_phone_width(browser: Browser, tmp_path: Path) -> None:  # noqa: F811
    server = FakeServer(lose_every=7)
    config = RunConfig(server="http://fake.invalid", devices=6, ramp=400, rate=30, duration=2, grace=0.3,
                       phones_per_account=3, live=False, seed=3)
    hooks = RunHooks(factory=factory(server), api_transport=server.transport(), handle_signals=False,
                     console=Console(file=io.StringIO()))
    report = trio.run(run_load, config, hooks)
    page = tmp_path / "normal.html"
    page.write_text(render_html(report))
    _check_page(browser, page)
    text = browser.text()
    assert "Verdict: red" in text and f"{report['messages']['lost']} of 60 accepted messages lost" in text
    assert all(item["id"] in text for item in report["lost"])


def _messages_stored(database: Path) -> int:
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_an_outage_run_shows_its_failed_sends_in_the_verdict(browser: Browser, tmp_path: Path) -> None:  # noqa: F811
    server = LiveServer(tmp_path).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGATE_SIM_")}
    command = [sys.executable, "-m", "simulator.cli", "run", "--no-live", "--server", server.base_url,
               "--devices", "4", "--phones-per-account", "2", "--rate", "5", "--duration", "14", "--grace", "20",
               "--sent-latency", "0.05,0.1", "--delivered-latency", "0.05,0.1", "--seed", "1",
               "--report", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html")]
    sim = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while _messages_stored(tmp_path / "smsgate.db") < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        server.stop()  # down for a few seconds in the middle of the traffic, then back on the same port and database
        time.sleep(2)
        server.start()
        restarted = _messages_stored(tmp_path / "smsgate.db")
        output, _ = sim.communicate(timeout=60)
    finally:
        if sim.poll() is None:
            sim.kill()
        server.stop()
    assert sim.returncode == 3, output
    report = json.loads((tmp_path / "r.json").read_text())
    unanswered = report["messages"]["send_errors"] + report["messages"]["rejected"]
    assert unanswered > 0, output
    assert report["messages"]["accepted"] > restarted, output  # the traffic went on after the outage
    reason = report["verdict"]["reasons"][0]
    assert reason.startswith(f"{unanswered} of {report['messages']['attempted']} sends not accepted: "), reason
    assert f"RED: {reason}" in output
    page = tmp_path / "r.html"
    _check_page(browser, page)
    verdict = browser.text(".verdict")
    assert "Verdict: red" in verdict and reason in verdict
