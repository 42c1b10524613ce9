"""Processes the bench starts, and what /proc says about them (Linux): CPU seconds and resident memory of a
process and its children, open-file limits."""

from __future__ import annotations

import gc
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
PR_SET_PDEATHSIG = 1
# reference_server.cli's thresholds (the simulator may not import the server): young collections every 50,000
# allocations, so that a request's objects die before one comes instead of being promoted.
GC_THRESHOLDS = (50_000, 20, 20)


def settle() -> None:
    """Collect, then keep what is left out of later collections (`gc.freeze`): long-lived objects are then never
    walked again by a full collection."""
    gc.collect()
    gc.freeze()


def raise_nofile() -> int:
    """Raise this process's open-file limit to its hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _child_setup() -> None:
    raise_nofile()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass


def free_port() -> int:
    """A loopback port nothing listens on now (the bench never assumes a fixed one is free)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()  # fields from the 3rd (state) on


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and its live descendants."""
    total = 0
    for member in tree(pid):
        fields = _stat(member)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and its descendants."""
    total = 0
    for member in tree(pid):
        try:
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            pass
    return total


class Proc:
    """A child process with its output in a log file; stopped with SIGTERM (then SIGKILL) by `stop`."""

    def __init__(self, name: str, argv: Sequence[str], workdir: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.workdir = workdir
        self.env = env or {}
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, stdout: int | None = None, stdin: int | None = None) -> Proc:
        env = {k: v for k, v in os.environ.items() if "__" not in k and k != "CONFIG_PATH"}
        env.update(self.env)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(self.argv, cwd=self.workdir, env=env, stdout=stdout or self._log,
                                        stderr=self._log, stdin=stdin, preexec_fn=_child_setup)
        return self

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def read_json(self, event: str, within: float = 600) -> dict[str, Any]:
        """The next JSON line with this `event` on the child's stdout (it must have been started with a pipe)."""
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            raw = self.process.stdout.readline()
            if not raw:
                raise RuntimeError(f"{self.name} ended before {event!r}:\n{self.log_tail()}")
            line = json.loads(raw)
            if line.get("event") == event:
                return dict(line)
        raise RuntimeError(f"{self.name}: no {event!r} within {within:.0f} s")

    def tell(self, line: str) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write((line + "\n").encode())
        self.process.stdin.flush()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None


def wait_http(proc: Proc, url: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.log_tail()}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name} did not answer {url} within {within:.0f} s:\n{proc.log_tail()}")


class CpuWindow:
    """CPU share of a process tree over a window of wall time: 1.0 = one core busy all along."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.wall = time.monotonic()
        self.cpu = cpu_seconds(pid)

    def share(self) -> float:
        elapsed = time.monotonic() - self.wall
        return (cpu_seconds(self.pid) - self.cpu) / elapsed if elapsed > 0 else 0.0
