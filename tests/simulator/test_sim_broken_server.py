"""`smsgate-sim run` against the deliberately broken server (tests/broken_server.py, #27): the run is red,
and its terminal summary and HTML report name the registration failures (with how the phone registered),
the failed sends and the state reports for messages the run never sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from broken_server import MOBILE, OWNER, PRIVATE_TOKEN, THIRDPARTY, BrokenServer

pytestmark = pytest.mark.slow
STRANGERS = 3  # messages another user of the server sends to the run's phone


def _stranger(url: str, done: threading.Event) -> None:
    """Another user (the server's owner) sends messages to the first phone that registers: the phone reports
    states for ids the run never sent."""
    sent = 0
    deadline = time.monotonic() + 20
    while sent < STRANGERS and not done.is_set() and time.monotonic() < deadline:
        if httpx.get(url + THIRDPARTY + "/devices", auth=OWNER, timeout=5).json():
            httpx.post(url + THIRDPARTY + "/messages", auth=OWNER, timeout=5,
                       json={"id": f"stranger-{sent}", "textMessage": {"text": "hi"}, "phoneNumbers": ["+15550001"]})
            sent += 1
        else:
            time.sleep(0.1)


def test_the_broken_server_makes_a_red_run_that_names_its_causes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGATE_SIM_")}
    # SSE headers held back 3 s: the phone comes online late, then pulls what the stranger sent it
    with BrokenServer(sse_hold=3) as server:
        done = threading.Event()
        stranger = threading.Thread(target=_stranger, args=(server.url, done), daemon=True)
        stranger.start()
        try:
            result = subprocess.run(
                [sys.executable, "-m", "simulator.cli", "run", "--no-live", "--mobile-url", server.url + MOBILE,
                 "--thirdparty-url", server.url + THIRDPARTY, "--private-token", PRIVATE_TOKEN, "--devices", "8",
                 "--phones-per-account", "8", "--rate", "5", "--duration", "4", "--grace", "3",
                 "--report", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html")],
                env=env, capture_output=True, text=True, timeout=90)
        finally:
            done.set()
            stranger.join(10)
    output = result.stdout + result.stderr
    assert result.returncode == 3, output
    report = json.loads((tmp_path / "r.json").read_text())
    # root causes first: the registrations, then the sends, then the strangers' messages
    unknown = report["messages"]["unknown_events"]
    assert unknown >= STRANGERS, output  # at least one state report for each (more when the phone went on)
    assert report["verdict"]["reasons"] == ["7 of 8 phones failed to register",
                                            "20 of 20 sends not accepted: 401 x20",
                                            f"{unknown} state reports for messages this run never sent"], output
    summary = result.stdout
    assert summary.index("RED: 7 of 8 phones failed to register") < summary.index("20 of 20 sends not accepted")
    # each failed phone once, with how it registered (a Basic join into the first phone's account)
    assert report["errors"]["by_kind"]["registration"] == 7
    assert '    x7 phone N (Basic join): refused: 401: {"error": "unauthorized"}' in summary
    assert '    send x20: 401 {"error": "unauthorized"}' in summary
    assert f"unknown events   {unknown} state reports for messages this run never sent, e.g. stranger-" in summary
    page = (tmp_path / "r.html").read_text()
    for text in ("7 of 8 phones failed to register", "phone 1 (Basic join): refused: 401",
                 "20 of 20 sends not accepted: 401 x20", f"State reports for messages this run never sent: {unknown}",
                 "stranger-", "Errors by kind and message"):
        assert text in page.replace("&quot;", '"'), text
