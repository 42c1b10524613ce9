"""A reference server process of our own (`python -m reference_server serve`) for the demo and quick tries.

Only the process is shared, never code: the simulator talks to it over HTTP like to any server. It
runs in its own session, so a Ctrl-C in the terminal reaches the simulator, which then checks the
server's view and stops it; on Linux it also dies with its parent should the simulator be killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

import httpx
import trio

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass


class LocalServer:
    """`smsgate-server serve` in a temporary directory, on its embedded defaults plus `env` (SECTION__KEY)."""

    def __init__(self, port: int = 3000, env: dict[str, str] | None = None, workdir: Path | None = None) -> None:
        self.port = port
        self.env = dict(env or {})
        if port != 3000:
            self.env.setdefault("HTTP__LISTEN", f"127.0.0.1:{port}")
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="smsgate-sim-server-")
        self.workdir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.log_path = self.workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # No config file and no SMSGate variables from our environment: the embedded defaults.
        env = {k: v for k, v in os.environ.items() if "__" not in k and k != "CONFIG_PATH"}
        env.update(self.env)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([sys.executable, "-m", "reference_server", "serve"], cwd=self.workdir,
                                        env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True, preexec_fn=_die_with_parent)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def wait_ready(self, within: float = 60) -> None:
        async with httpx.AsyncClient(timeout=2) as client:
            with trio.move_on_after(within):
                while True:
                    if self.process is None or self.process.poll() is not None:
                        code = None if self.process is None else self.process.returncode
                        raise RuntimeError(f"the server exited with code {code}:\n{self.log_tail()}")
                    try:
                        if (await client.get(f"{self.base_url}/health/ready")).status_code == 200:
                            return
                    except httpx.HTTPError:
                        pass
                    await trio.sleep(0.2)
        raise RuntimeError(f"the server was not ready within {within:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15) -> int | None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._log:
            self._log.close()
            self._log = None
        return None if process is None else process.returncode

    def cleanup(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
