"""`smsgate-conformance` as a command: usage errors, the capability list, credentials, an unreachable target."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

from live_server import free_port

from conformance.cli import main


def conformance(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_usage_errors_exit_2() -> None:
    assert main([]) == 2  # no --server
    assert main(["--server", "http://x", "--only", "no-such-capability"]) == 2
    assert main(["--server", "http://x", "--login", "only-a-login"]) == 2
    assert main(["--server", "http://x", "--private-server", "http://y"]) == 2


def test_capabilities_are_listed(capsys: object) -> None:
    assert main(["capabilities"]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "schema-3rdparty" in out and "private-mode" in out and "needs:" in out


def test_fcm_credentials(tmp_path: Path) -> None:
    out = tmp_path / "fcm.json"
    assert main(["fcm-credentials", "--endpoint", "http://127.0.0.1:9099/", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["type"] == "service_account" and document["token_uri"] == "http://127.0.0.1:9099/token"
    assert "PRIVATE KEY" in document["private_key"]


def test_unreachable_target_fails_with_reports(tmp_path: Path) -> None:
    config = tmp_path / "ci.toml"
    config.write_text(f'server = "http://127.0.0.1:{free_port()}"\njunit-xml = "{tmp_path / "r.xml"}"\n')
    done = conformance("--config", str(config), "--json", str(tmp_path / "r.json"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not reachable" in done.stdout
    document = json.loads((tmp_path / "r.json").read_text())
    assert document["exit_status"] == 1 and "not reachable" in document["errors"][0]
    root = ET.parse(tmp_path / "r.xml").getroot()
    assert root.get("errors") == "1"
