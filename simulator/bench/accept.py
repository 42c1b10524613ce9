"""1. Accept: `POST /api/3rdparty/v1/messages` per second on the reference server against the minimal
quart-trio route on the same Hypercorn setup, driven by the same load generator, in the same run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import BenchConfig
from .loadgen import Result, Spec, as_dict, run_subprocess, run_wrk, wrk_available
from .procs import CpuWindow, Proc
from .servers import fresh_mariadb, minimal_server, reference_server, register

PATH = "/api/3rdparty/v1/messages"
BODY = json.dumps({"textMessage": {"text": "Hello from the bench"}, "phoneNumbers": ["+79990001122"]})


def _spec(config: BenchConfig, port: int, authorization: str = "") -> Spec:
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    return Spec("127.0.0.1", port, "POST", PATH, headers, BODY, config.connections, config.warmup, config.duration)


def _drive(config: BenchConfig, proc: Proc, spec: Spec, workdir: Path, generator: str | None = None) -> dict[str, Any]:
    """Load `proc` with `spec`; the result with the server's and the generator's CPU share."""
    window = CpuWindow(proc.pid)
    use_wrk = (generator or config.loadgen) == "wrk" and wrk_available()
    result: Result = run_wrk(spec, str(workdir)) if use_wrk else run_subprocess(spec)
    figures = as_dict(result)
    figures["server_cpu_share"] = round(window.share(), 3)
    ok = sum(v for k, v in result.statuses.items() if k.startswith("2"))
    figures["ok_share"] = round(ok / result.requests, 4) if result.requests else 0.0
    return figures


def run_accept(config: BenchConfig, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    port = config.port_base
    out: dict[str, Any] = {"path": PATH, "connections": config.connections, "seconds": config.duration,
                           "generator": "wrk" if config.loadgen == "wrk" and wrk_available() else "python",
                           "ceilings": {}, "servers": {}, "skipped": {}}
    for workers in (1, 2):
        port += 1
        proc = minimal_server(f"minimal-w{workers}", workdir / f"minimal-w{workers}", port, workers)
        try:
            ceiling = _drive(config, proc, _spec(config, port), workdir)
            if workers == 1 and wrk_available():  # the generator check: the same route under wrk
                ceiling["wrk_cross_check"] = _drive(config, proc, _spec(config, port), workdir, "wrk")
        finally:
            proc.stop()
        out["ceilings"][f"w{workers}"] = ceiling
        log(f"accept: minimal route, {workers} process(es): {ceiling['rate']:.0f}/s")
        for backend in ("sqlite", "mariadb"):
            key = f"{backend}-w{workers}"
            url = ""
            if backend == "mariadb":
                if not config.mariadb_url:
                    out["skipped"][key] = "no MariaDB URL"
                    continue
                problem = fresh_mariadb(config.mariadb_url)
                if problem:
                    out["skipped"][key] = problem
                    log(f"accept: {key} skipped: {problem}")
                    continue
                url = config.mariadb_url
            port += 1
            proc = reference_server(key, workdir / key, port, workers=workers, database_url=url)
            try:
                account = register(f"http://127.0.0.1:{port}")
                figures = _drive(config, proc, _spec(config, port, account.basic), workdir)
            finally:
                proc.stop()
            figures["ratio"] = round(figures["rate"] / ceiling["rate"], 3) if ceiling["rate"] else None
            out["servers"][key] = figures
            log(f"accept: {key}: {figures['rate']:.0f}/s = {figures['ratio']:.0%} of the minimal route")
    return out
