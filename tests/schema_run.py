"""`nox -s schema`: plain `st run` with every check and every phase against reference servers.

Two servers on SQLite: public mode with JWT on, and private mode. For each, a device is registered, tokens
are minted, and schemathesis runs with `openapi/schemathesis.toml` (its exclusions, each with its reason, and the
credentials of every security scheme). The run fails on any failure and on any operation that answered
only 401/403 (`warnings.fail-on`). Options after `--` go to `st run` (e.g. `-n 100`, `--seed 7`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

# The repository first, tests/ last: tests/openapi (a folder of tests) must not shadow the openapi package.
sys.path[0] = str(Path(__file__).resolve().parents[1])
sys.path.append(str(Path(__file__).resolve().parent))
from live_server import LiveServer  # noqa: E402

from openapi import SCHEMATHESIS_CONFIG, SPEC_PATH  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PRIVATE_TOKEN = "schema-run-private-token"
MODES = {
    "public": {"GATEWAY__MODE": "public", "JWT__SECRET": "schema-run-" + "0123456789abcdef" * 4},
    "private": {"GATEWAY__MODE": "private", "GATEWAY__PRIVATE_TOKEN": PRIVATE_TOKEN,
                "JWT__SECRET": "schema-run-" + "0123456789abcdef" * 4},
}


def credentials(server: LiveServer, mode: str) -> dict[str, str]:
    """A device of a new user, and a refresh token of that user: the variables schemathesis.toml reads."""
    headers = {"Authorization": f"Bearer {PRIVATE_TOKEN}"} if mode == "private" else {}
    device = httpx.post(f"{server.base_url}/api/mobile/v1/device", json={"name": "schemathesis/phone"},
                        headers=headers).raise_for_status().json()
    pair = httpx.post(f"{server.base_url}/api/3rdparty/v1/auth/token", json={"scopes": ["all:any"]},
                      auth=(device["login"], device["password"])).raise_for_status().json()
    return {"SMSGATE_LOGIN": device["login"], "SMSGATE_PASSWORD": device["password"],
            "SMSGATE_DEVICE_ID": device["id"], "SMSGATE_DEVICE_TOKEN": device["token"],
            "SMSGATE_REFRESH_TOKEN": pair["refresh_token"], "SMSGATE_PRIVATE_TOKEN": PRIVATE_TOKEN}


def run(mode: str, st_args: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix=f"schema-{mode}-") as workdir:
        server = LiveServer(Path(workdir), env={
            **MODES[mode], "DATABASE__URL": f"sqlite:///{workdir}/smsgate.db",
            "HTTP__PROXIES": "127.0.0.1/32",  # the hooks give each relay push its own client address
            "AUTH__FAILED_LOGIN_LIMIT": "0",  # ignored_auth sends wrong credentials on purpose
        }).start()
        try:
            env = {**os.environ, **credentials(server, mode), "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
                   "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
            command = ["st", "--config-file", str(SCHEMATHESIS_CONFIG), "run", str(SPEC_PATH), "--url", server.base_url,
                       "--phases", "examples,coverage,fuzzing,stateful", "--no-color",
                       *st_args]
            print(f"== {mode} mode: {' '.join(command)}", flush=True)
            code = subprocess.call(command, cwd=ROOT, env=env)
            if "Traceback" in server.log():
                print(f"== {mode} mode: the server logged a traceback:\n{server.log()[-4000:]}")
                code = code or 1
            return code
        finally:
            server.stop()


def main() -> int:
    st_args = sys.argv[1:]
    results = {mode: run(mode, st_args) for mode in MODES}
    for mode, code in results.items():
        print(f"{mode} mode: {'passed' if code == 0 else f'FAILED (exit {code})'}")
    return 0 if not any(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
