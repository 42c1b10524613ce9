"""`smsgate-sim run` against a live reference server, and the demo's Ctrl-C path, as real processes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from live_server import LiveServer, free_port

pytestmark = pytest.mark.slow


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSGATE_SIM_")}
    return {**env, **extra}


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgresql)])
def test_a_small_run_against_the_reference_server(tmp_path: Path, database: str,
                                                  request: pytest.FixtureRequest) -> None:
    # SQLite: the embedded default; PostgreSQL: nothing lost on the newest database too.
    env = {} if database == "sqlite" else {"DATABASE__URL": str(request.getfixturevalue("postgres_url"))}
    with LiveServer(tmp_path, env=env) as server:
        # Options from the command line and from SMSGATE_SIM_* variables alike.
        result = subprocess.run(
            [sys.executable, "-m", "simulator.cli", "run", "--server", server.base_url, "--rate", "5",
             "--duration", "10", "--grace", "15", "--report", str(tmp_path / "r.json"),
             "--html", str(tmp_path / "r.html"), "--no-live"],
            env=_env(SMSGATE_SIM_DEVICES="10", SMSGATE_SIM_PHONES_PER_ACCOUNT="5", SMSGATE_SIM_RAMP="20"),
            capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    messages = report["messages"]
    assert report["phones"]["started"] == 10 and report["phones"]["online_peak"] == 10
    assert messages["accepted"] == messages["attempted"] == 50
    assert (messages["lost"], messages["stuck"], messages["unfinished"]) == (0, 0, 0)
    assert messages["final_states"] == {"Delivered": 50}
    assert report["server_check"]["agree"] == 50 and report["server_check"]["states"] == {"Delivered": 50}
    assert report["latency_ms"]["Delivered"]["count"] == 50
    assert report["latency_ms"]["Processed"]["p50"] < report["latency_ms"]["Delivered"]["p50"]
    page = (tmp_path / "r.html").read_text()
    assert "<table>" in page and "<svg" in page
    assert "0 stuck, 0 lost" in result.stdout


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "zombie" not in status


def test_the_demo_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    demo = subprocess.Popen([sys.executable, "-m", "simulator.demo", "--port", str(port), "--duration", "300",
                             "--no-live"], cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert demo.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("[") and "traffic" in line:  # phones online, traffic flowing
                break
        output = "".join(lines)
        assert re.search(r"account 1 of 5: login \S+  password \S+", output), output
        assert "curl -u " in output and f"http://127.0.0.1:{port}/api/3rdparty/v1/messages" in output
        server_pid = int(re.search(r"smsgate-server \(pid (\d+)\)", output)[1])  # type: ignore[index]
        assert _alive(server_pid)
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=45)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    output += rest
    assert demo.returncode == 0, output
    assert "summary (interrupted)" in output and "0 stuck, 0 lost" in output, output
    assert "smsgate-server stopped (exit code 0)" in output
    assert not _alive(server_pid)
