"""What an idle phone holds, traced: `python -m simulator.bench.memory [--phones 300] [--top 25]`.

Starts the reference server (SQLite, in a temporary directory), registers the devices, then runs the bench's
`bare` and `idle` fleets (simulator.bench.fleet), each in a process of its own, under tracemalloc: traced bytes
per bare httpx SSE stream and per idle phone, their ratio, and the largest groups of the phone's allocations by
the innermost simulator line that made them. Quicker and steadier than RSS for a few hundred phones.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .procs import Proc, free_port
from .servers import reference_server

FRAMES = 25


def _fleet(workdir: Path, mode: str, base_url: str, phones: int, registrations: Path) -> dict[str, Any]:
    spec = {"mode": mode, "server": base_url, "phones": phones, "registrations": str(registrations),
            "within": 300, "trace": FRAMES}
    proc = Proc(f"{mode}-traced", [sys.executable, "-m", "simulator.bench.fleet", json.dumps(spec)], workdir)
    proc.start(stdout=subprocess.PIPE)
    try:
        return proc.read_json(mode)
    finally:
        proc.stop()


def measure(phones: int, workdir: Path) -> dict[str, Any]:
    port = free_port()
    server = reference_server("memory-server", workdir / "server", port)
    try:
        registrations = workdir / "registrations.json"
        spec = {"mode": "register", "host": "127.0.0.1", "port": port, "count": phones, "out": str(registrations)}
        registrar = Proc("registrar", [sys.executable, "-m", "simulator.bench.sseclients", json.dumps(spec)],
                         workdir).start(stdout=subprocess.PIPE)
        try:
            registrar.read_json("registered")
        finally:
            registrar.stop()
        base_url = f"http://127.0.0.1:{port}"
        bare = _fleet(workdir, "bare", base_url, phones, registrations)
        idle = _fleet(workdir, "idle", base_url, phones, registrations)
    finally:
        server.stop()
    return {"bare": bare, "idle": idle}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.bench.memory", description=__doc__.split("\n")[0])
    parser.add_argument("--phones", type=int, default=300)
    parser.add_argument("--top", type=int, default=25, help="groups of the idle phone's allocations to print")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="smsgate-memory-") as tmp:
        result = measure(args.phones, Path(tmp))
    bare, idle = result["bare"], result["idle"]
    stream, phone = bare["traced_bytes_per_phone"], idle["traced_bytes_per_phone"]
    print(f"bare httpx SSE stream: {stream / 1024:.1f} KB traced ({bare['streams']} streams)")
    print(f"idle phone: {phone / 1024:.1f} KB traced ({idle['online']} of {idle['phones']} online, "
          f"{idle['errors']} errors): {phone / max(1, stream):.2f}x the bare stream")
    print("largest groups of an idle phone (bytes and objects per phone; innermost simulator line <- allocating file):")
    for group in idle["traced_top"][:args.top]:
        print(f"  {group['bytes_per_phone']:>7} B {group['objects_per_phone']:>7} obj  {group['where']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
