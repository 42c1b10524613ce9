"""3. Connections: SSE streams one server process holds, its memory per stream, and how long one
`SettingsUpdated` takes to reach them all; beside the minimal quart-trio SSE route on the same Hypercorn setup.
4. Simulator: idle phones (SSE held) in one simulator process and its memory per phone; beside bare httpx SSE
streams on the same pools (what holding a stream costs at the least)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import BenchConfig
from .procs import Proc, free_port, rss_bytes
from .servers import Account, minimal_server, reference_server

MB = 1024 * 1024


def _hold(name: str, workdir: Path, port: int, count: int, registrations: Path | None = None,
          authorization: str = "") -> Proc:
    spec = {"mode": "hold", "host": "127.0.0.1", "port": port, "count": count, "authorization": authorization,
            "registrations": str(registrations) if registrations else None}
    return Proc(name, [sys.executable, "-m", "simulator.bench.sseclients", json.dumps(spec)], workdir).start(
        stdout=subprocess.PIPE, stdin=subprocess.PIPE)


def _streams(server: Proc, workdir: Path, port: int, count: int, registrations: Path | None,
             authorization: str) -> dict[str, Any]:
    """Hold `count` streams on `server`, then broadcast once; memory and timings."""
    time.sleep(1.0)
    base = rss_bytes(server.pid)
    holder = _hold(f"{server.name}-streams", workdir, port, count, registrations, authorization)
    try:
        held = holder.read_json("holding")
        time.sleep(2.0)
        rss = rss_bytes(server.pid)
        holder.tell("broadcast")
        broadcast = holder.read_json("broadcast", within=120)
    finally:
        holder.stop()
    return {"streams": held["streams"], "refused": held["refused"], "open_seconds": held["seconds"],
            "server_rss_mb": round(rss / MB, 1), "server_base_rss_mb": round(base / MB, 1),
            "kb_per_stream": round((rss - base) / 1024 / max(1, held["streams"]), 1),
            "broadcast_reached": broadcast["reached"], "broadcast_status": broadcast["status"],
            "broadcast_first_ms": broadcast["first_ms"], "broadcast_all_ms": broadcast["all_ms"]}


def _fleet(name: str, workdir: Path, mode: str, base_url: str, count: int, registrations: Path,
           within: float) -> dict[str, Any]:
    spec = {"mode": mode, "server": base_url, "phones": count, "registrations": str(registrations), "within": within}
    proc = Proc(name, [sys.executable, "-m", "simulator.bench.fleet", json.dumps(spec)], workdir).start(
        stdout=subprocess.PIPE)
    try:
        return proc.read_json(mode)
    finally:
        proc.stop()


def run_connections(config: BenchConfig, workdir: Path, log: Callable[[str], None],
                    parts: tuple[str, ...]) -> dict[str, Any]:
    count, phones = config.sse_connections, config.idle_phones
    out: dict[str, Any] = {}
    port = free_port()
    if "connections" in parts:
        minimal = minimal_server("minimal-sse", workdir / "minimal-sse", port)
        try:
            ceiling = _streams(minimal, workdir, port, count, None, "")
        finally:
            minimal.stop()
        log(f"connections: minimal route: {ceiling['streams']} streams, {ceiling['kb_per_stream']} KB each, "
            f"broadcast reached {ceiling['broadcast_reached']} in {ceiling['broadcast_all_ms']} ms")
        out["connections"] = {"ceiling": ceiling}
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = reference_server("conn-server", workdir / "conn-server", port)
    try:
        registrations = workdir / "registrations.json"
        spec = {"mode": "register", "host": "127.0.0.1", "port": port, "count": max(count, phones),
                "out": str(registrations)}
        registrar = Proc("registrar", [sys.executable, "-m", "simulator.bench.sseclients", json.dumps(spec)],
                         workdir).start(stdout=subprocess.PIPE)
        registered = registrar.read_json("registered")
        registrar.stop()
        account = Account(registered["login"], registered["password"], "", "")
        log(f"connections: {registered['devices']} devices registered in {registered['seconds']} s")
        if "connections" in parts:
            ours = _streams(server, workdir, port, count, registrations, account.basic)
            ours["registration_seconds"] = registered["seconds"]
            ceiling = out["connections"]["ceiling"]
            ours["memory_ratio"] = round(ours["kb_per_stream"] / ceiling["kb_per_stream"], 2)
            if ours["broadcast_all_ms"] and ceiling["broadcast_all_ms"]:
                ours["broadcast_ratio"] = round(ours["broadcast_all_ms"] / ceiling["broadcast_all_ms"], 2)
            out["connections"]["server"] = ours
            log(f"connections: server: {ours['streams']} streams, RSS {ours['server_rss_mb']} MB, "
                f"{ours['kb_per_stream']} KB each; broadcast reached {ours['broadcast_reached']} in "
                f"{ours['broadcast_all_ms']} ms")
        if "simulator" in parts:
            bare = _fleet("bare-streams", workdir, "bare", base_url, phones, registrations, config.idle_within)
            log(f"simulator: {bare['streams']} bare httpx streams, {bare['bytes_per_stream'] / 1024:.1f} KB each")
            idle = _fleet("idle-phones", workdir, "idle", base_url, phones, registrations, config.idle_within)
            idle["kb_per_phone"] = round(idle["bytes_per_phone"] / 1024, 1)
            idle["rss_mb"] = round(idle["rss_bytes"] / MB, 1)
            idle["ratio_to_bare_stream"] = round(idle["bytes_per_phone"] / max(1, bare["bytes_per_stream"]), 2)
            out["simulator"] = {"ceiling": bare, "phones": idle}
            log(f"simulator: {idle['online']} of {idle['phones']} phones online in {idle['seconds']} s, RSS "
                f"{idle['rss_mb']} MB, {idle['kb_per_phone']} KB per phone")
    finally:
        server.stop()
    return out
