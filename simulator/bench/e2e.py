"""2. End to end: N simulated phones over SSE against one server process (SQLite), messages at a rising
rate; per step throughput to Delivered, send -> Processed / Sent percentiles, lost and stuck; the highest
rate whose p99 send -> Sent stays under the limit."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from .config import BenchConfig
from .procs import CpuWindow, Proc, free_port
from .servers import reference_server

REQUESTS = re.compile(r'^http_requests_total\{[^}]*path="([^"]*)"[^}]*\} ([0-9.e+]+)$', re.MULTILINE)


def requests_served(base_url: str) -> dict[str, float]:
    """The server's own count of requests by route (Prometheus `http_requests_total`)."""
    text = httpx.get(base_url + "/metrics", timeout=10).text
    counts: dict[str, float] = {}
    for path, value in REQUESTS.findall(text):
        counts[path] = counts.get(path, 0.0) + float(value)
    return counts


def run_e2e(config: BenchConfig, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = reference_server("e2e-server", workdir / "e2e", port)
    spec = {"mode": "e2e", "server": base_url, "phones": config.phones, "phones_per_account": config.phones_per_account,
            "rates": list(config.rates), "step_seconds": config.step_seconds, "latency_limit": config.latency_limit}
    fleet = Proc("e2e-fleet", [sys.executable, "-m", "simulator.bench.fleet", json.dumps(spec)], workdir / "e2e")
    out: dict[str, Any] = {"phones": config.phones, "phones_per_account": config.phones_per_account,
                           "step_seconds": config.step_seconds, "radio_latency": 0, "steps": []}
    try:
        fleet.start(stdout=subprocess.PIPE)
        assert fleet.process is not None and fleet.process.stdout is not None
        window = CpuWindow(server.pid)
        before = requests_served(base_url)
        for raw in fleet.process.stdout:
            line = json.loads(raw)
            if line["event"] == "ready":
                out["ready"] = line
                log(f"e2e: {line['online']} of {line['phones']} phones online in {line['seconds']} s")
            else:
                after = requests_served(base_url)
                served = sum(after.values()) - sum(before.values())
                line["server_cpu_share"] = round(window.share(), 3)
                line["server_requests_per_message"] = round(served / line["accepted"], 2) if line["accepted"] else None
                out["steps"].append(line)
                sent = line["latency_ms"]["Sent"]
                log(f"e2e: {line['rate']:.0f} msg/s: delivered {line['delivered_per_second']}/s, p99 send->Sent "
                    f"{sent['p99']} ms, lost {line['lost']}, stuck {line['stuck']}, "
                    f"server CPU {line['server_cpu_share']:.0%}, simulator CPU {line['simulator_cpu_share']:.0%}")
            window = CpuWindow(server.pid)
            before = requests_served(base_url)
        fleet.process.wait(30)
        if fleet.process.returncode:
            out["error"] = fleet.log_tail()
    finally:
        fleet.stop()
        server.stop()
    limit_ms = config.latency_limit * 1000
    good = [s for s in out["steps"] if s["lost"] == 0 and s["stuck"] == 0 and s["rejected"] == 0
            and s["latency_ms"]["Sent"]["p99"] is not None and s["latency_ms"]["Sent"]["p99"] < limit_ms]
    best = max(good, key=lambda s: s["rate"]) if good else None
    out["best_rate"] = best["rate"] if best else None
    out["best"] = best
    return out
