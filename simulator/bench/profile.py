"""Where the server's time goes under the accept bench's load: `python -m simulator.bench.profile`.

Starts the reference server (one process, SQLite unless `--database-url`), drives `POST /api/3rdparty/v1/messages`
with the bench's load generator (50 keep-alive connections, closed loop) and samples the server with py-spy
(`pip install py-spy`; it must be allowed to ptrace its child). Prints the share of the samples spent in each
layer (inclusive: a frame counts once per sample) and the busiest functions (self time), and keeps the
collapsed stacks (`profile.txt`, for flamegraph.pl or speedscope) in the work directory.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from .accept import _spec
from .config import BenchConfig
from .loadgen import run_subprocess
from .procs import free_port, raise_nofile
from .servers import reference_server, register

# Layers, matched on the frame's file as py-spy names it ("func (package/module.py:line)"); the first match wins.
LAYERS = (("socket syscalls", "_nonblocking_helper (trio/_socket.py"), ("sqlalchemy", "(sqlalchemy/"),
          ("pymysql", "(pymysql/"), ("hypercorn", "(hypercorn/"), ("h11", "(h11/"), ("quart", "(quart"),
          ("werkzeug", "(werkzeug/"), ("pydantic", "(pydantic"), ("prometheus", "(prometheus_client/"),
          ("logging", "(logging/"), ("trio", "(trio/"), ("ours: api", "(reference_server/api/"),
          ("ours: storage", "(reference_server/storage/"), ("ours: domain", "(reference_server/domain/"),
          ("ours: events", "(reference_server/events/"), ("ours: other", "(reference_server/"))
ENTRY = ("(reference_server/cli.py", "(reference_server/__main__.py")  # every sample of the main thread


def _layer(frame: str) -> str:
    return next((name for name, marker in LAYERS if marker in frame), "other (stdlib, C)")


def summarise(collapsed: str, top: int = 25) -> str:
    """Self time per layer, our functions' inclusive time and the busiest functions, from collapsed stacks."""
    total = 0
    layers: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    own: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")[1:]  # the first is the thread
        if not frames:
            continue
        total += count
        threads["event loop" if any("(trio/_core/_run.py" in f for f in frames) else "worker threads"] += count
        layers[_layer(frames[-1])] += count
        own[frames[-1]] += count
        for frame in {f for f in frames if "(reference_server/" in f and not any(e in f for e in ENTRY)}:
            ours[frame] += count
    if not total:
        return "no samples"
    share = "{:6.1%}".format
    out = [f"{total} samples (active only); threads: " + ", ".join(f"{k} {share(v / total).strip()}" for k, v in
                                                                  threads.most_common()), "",
           "self time by layer:"]
    out += [f"  {share(count / total)}  {name}" for name, count in layers.most_common()]
    out += ["", "our functions (inclusive):"]
    out += [f"  {share(count / total)}  {name}" for name, count in ours.most_common(top)]
    out += ["", "functions (self):"]
    out += [f"  {share(count / total)}  {name}" for name, count in own.most_common(top)]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.bench.profile", description=__doc__)
    parser.add_argument("--database-url", default="", help="the server's database (default: SQLite in the workdir)")
    parser.add_argument("--seconds", type=float, default=20.0, help="profiled seconds (default %(default)s)")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second (default %(default)s)")
    parser.add_argument("--workdir", type=Path, help="keep the log, database and profile here")
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix="smsgate-profile-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        server = reference_server("server", workdir / "server", port, database_url=args.database_url)
        try:
            spec = _spec(BenchConfig(warmup=2.0, duration=args.seconds + 4), port,
                         register(f"http://127.0.0.1:{port}").basic)
            out = workdir / "profile.txt"
            record = subprocess.Popen([spy, "record", "--pid", str(server.pid), "--format", "raw", "--rate",
                                       str(args.rate), "--duration", str(int(args.seconds)), "--nonblocking",
                                       "--threads", "--output", str(out)], stdout=subprocess.DEVNULL)
            result = run_subprocess(spec)
            record.wait(60)
            print(f"load: {result.rate:,.0f} req/s, statuses {result.statuses}")
            print(summarise(out.read_text()))
            print(f"\ncollapsed stacks: {out}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
