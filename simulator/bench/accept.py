"""1. Accept: `POST /api/3rdparty/v1/messages` per second on the reference server against the minimal
quart-trio route on the same Hypercorn setup, driven by the same load generator, in the same run."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from .config import BenchConfig
from .loadgen import Result, Spec, as_dict, run_subprocess, run_wrk, wrk_available
from .procs import CpuWindow, Proc, free_port
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


def _merge(slices: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds of one server as one figure: requests and CPU added up, latency of the median round."""
    requests = sum(s["requests"] for s in slices)
    seconds = sum(s["seconds"] for s in slices)
    statuses: dict[str, int] = {}
    for s in slices:
        for key, value in s["statuses"].items():
            statuses[key] = statuses.get(key, 0) + value
    middle = sorted(slices, key=lambda s: s["rate"])[len(slices) // 2]
    server_cpu = sum(s["server_cpu_share"] * s["seconds"] for s in slices) / seconds
    ok = sum(v for k, v in statuses.items() if k.startswith("2"))
    return {"generator": slices[0]["generator"], "requests": requests, "seconds": round(seconds, 2),
            "rate": round(requests / seconds, 1), "statuses": statuses, "ok_share": round(ok / requests, 4) if requests
            else 0.0, "errors": sum(s["errors"] for s in slices), "latency_ms": middle["latency_ms"],
            "generator_cpu_share": round(sum(s["cpu_share"] or 0 for s in slices) / len(slices), 3),
            "server_cpu_share": round(server_cpu, 3),
            "per_server_cpu_second": round(requests / (server_cpu * seconds), 1) if server_cpu else None,
            "rounds": [s["rate"] for s in slices]}


def _start_all(config: BenchConfig, workdir: Path, workers: int, port: int,
               out: dict[str, Any], log: Callable[[str], None]) -> dict[str, tuple[Proc, Spec]]:
    """The minimal route and the reference server on each backend, `workers` processes each."""
    servers: dict[str, tuple[Proc, Spec]] = {}
    proc = minimal_server(f"minimal-w{workers}", workdir / f"minimal-w{workers}", port, workers)
    servers["ceiling"] = (proc, _spec(config, port))
    for backend in ("sqlite", "mariadb"):
        key = f"{backend}-w{workers}"
        url = ""
        if backend == "mariadb":
            problem = fresh_mariadb(config.mariadb_url) if config.mariadb_url else "no MariaDB URL given"
            if problem:
                out["skipped"][key] = problem
                log(f"accept: {key} skipped: {problem}")
                continue
            url = config.mariadb_url
        port = free_port()
        proc = reference_server(key, workdir / key, port, workers=workers, database_url=url)
        servers[key] = (proc, _spec(config, port, register(f"http://127.0.0.1:{port}").basic))
    return servers


def run_accept(config: BenchConfig, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Each server in turn, in `rounds` short slices interleaved with the others', so that a neighbour's burst
    on a shared machine falls on all of them alike."""
    rounds = max(1, config.rounds)
    slice_config = replace(config, duration=config.duration / rounds, warmup=min(config.warmup, 1.0))
    out: dict[str, Any] = {"path": PATH, "connections": config.connections, "seconds": config.duration,
                           "rounds": rounds, "generator": "wrk" if config.loadgen == "wrk" and wrk_available()
                           else "python", "ceilings": {}, "servers": {}, "skipped": {}}
    for workers in (1, 2):
        servers = _start_all(config, workdir, workers, free_port(), out, log)
        try:
            slices: dict[str, list[dict[str, Any]]] = {key: [] for key in servers}
            for _ in range(rounds):
                for key, (proc, spec) in servers.items():
                    slices[key].append(_drive(slice_config, proc, replace(spec, duration=slice_config.duration,
                                                                          warmup=slice_config.warmup), workdir))
            if workers == 1 and wrk_available():  # the generator check: the same route under wrk
                proc, spec = servers["ceiling"]
                out["wrk_cross_check"] = _drive(config, proc, spec, workdir, "wrk")
        finally:
            for proc, _ in servers.values():
                proc.stop()
        ceiling = out["ceilings"][f"w{workers}"] = _merge(slices.pop("ceiling"))
        log(f"accept: minimal route, {workers} process(es): {ceiling['rate']:.0f}/s")
        for key, parts in slices.items():
            figures = out["servers"][key] = _merge(parts)
            figures["ratio"] = round(figures["rate"] / ceiling["rate"], 3) if ceiling["rate"] else None
            if figures["per_server_cpu_second"] and ceiling["per_server_cpu_second"]:
                figures["cpu_ratio"] = round(figures["per_server_cpu_second"] / ceiling["per_server_cpu_second"], 3)
            log(f"accept: {key}: {figures['rate']:.0f}/s = {figures['ratio']:.0%} of the minimal route "
                f"({figures.get('cpu_ratio', 0):.0%} per CPU second)")
    return out
