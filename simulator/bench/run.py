"""`smsgate-sim bench`: start what is needed, measure, print the table, write `bench-results.json`."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .accept import run_accept
from .config import DEFAULT_MARIADB, PARTS, BenchConfig
from .connections import run_connections
from .e2e import run_e2e
from .loadgen import wrk_available
from .procs import raise_nofile
from .report import table


def _log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def load_generator(results: dict[str, Any]) -> dict[str, Any]:
    """How we know the load generator was not the bottleneck."""
    summary: dict[str, Any] = {}
    accept = results.get("accept")
    if accept:
        figures = [*accept["ceilings"].values(), *accept["servers"].values()]
        gen = max(f["generator_cpu_share"] for f in figures)
        summary["accept"] = {"generator": accept["generator"], "max_generator_cpu_share": gen}
        text = f"{accept['generator']} generator: at most {gen:.0%} of a core while driving the servers"
        check = accept.get("wrk_cross_check")
        if check:
            ceiling = accept["ceilings"]["w1"]["rate"]
            summary["accept"]["wrk_cross_check_rate"] = check["rate"]
            summary["cross_check"] = f"minimal route under wrk: {check['rate']:,.0f} req/s vs {ceiling:,.0f} (python)"
        summary["summary"] = text
    e2e = results.get("e2e")
    if e2e and e2e.get("steps"):
        best = e2e.get("best") or e2e["steps"][0]
        summary["e2e_simulator_cpu_share"] = best["simulator_cpu_share"]
        summary["summary"] = (summary.get("summary", "") + f"; simulator {best['simulator_cpu_share']:.0%} of a core "
                              f"end to end").lstrip("; ")
    return summary


def run_bench(config: BenchConfig, workdir: Path) -> dict[str, Any]:
    raise_nofile()
    began = time.monotonic()
    results: dict[str, Any] = {"machine": {"cpus": _cpus(), "python": platform.python_version(),
                                           "platform": platform.platform()},
                               "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}}
    if "accept" in config.parts:
        results["accept"] = run_accept(config, workdir / "accept", _log)
    if "e2e" in config.parts:
        results["e2e"] = run_e2e(config, workdir / "e2e", _log)
    if "connections" in config.parts or "simulator" in config.parts:
        results.update(run_connections(config, workdir / "connections", _log, config.parts))
    results["load_generator"] = load_generator(results)
    results["seconds"] = round(time.monotonic() - began, 1)
    return results


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smsgate-sim bench", description=__doc__)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma list of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--output", type=Path, default=Path("bench-results.json"), help="results file")
    parser.add_argument("--mariadb-url", default=DEFAULT_MARIADB,
                        help="MariaDB for the accept figures ('' to skip; default %(default)s)")
    parser.add_argument("--loadgen", choices=["python", "wrk"], default="python",
                        help="accept load generator (wrk falls back to python when missing)")
    parser.add_argument("--phones", type=int, default=1000, help="phones end to end (default %(default)s)")
    parser.add_argument("--rates", default=",".join(f"{rate:g}" for rate in BenchConfig.rates),
                        help="message rates to try end to end, in turn until one misses (default %(default)s)")
    parser.add_argument("--connections", type=int, default=10_000, help="SSE streams held (default %(default)s)")
    parser.add_argument("--idle-phones", type=int, default=10_000, help="idle phones in one simulator process")
    parser.add_argument("--quick", action="store_true", help="the same figures on a small scale (about a minute)")
    parser.add_argument("--workdir", type=Path, help="keep logs and databases here (default: a temporary directory)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    unknown = set(parts) - set(PARTS)
    if unknown:
        print(f"unknown part(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    config = BenchConfig(parts=parts, output=args.output, mariadb_url=args.mariadb_url, loadgen=args.loadgen,
                         phones=args.phones, rates=tuple(float(r) for r in args.rates.split(",")),
                         sse_connections=args.connections, idle_phones=args.idle_phones, quick=args.quick)
    if args.quick:
        config = config.scaled()
    if config.loadgen == "wrk" and not wrk_available():
        _log("wrk is not installed: the Python load generator is used instead")
    with tempfile.TemporaryDirectory(prefix="smsgate-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results = run_bench(config, workdir)
    config.output.write_text(json.dumps(results, indent=1) + "\n")
    print()
    print(table(results))
    print(f"\n{results['seconds']:.0f} s; results in {config.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
