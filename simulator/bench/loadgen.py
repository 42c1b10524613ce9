"""A closed-loop HTTP/1.1 load generator in plain Python (asyncio, raw sockets, keep-alive), like `wrk -cN`.

Each of N connections sends the same request, waits for the whole answer and sends again. Answers are read
by Content-Length only (the servers measured here never chunk a small answer). Only answers completed inside
the measured window count; the warm-up before it is not measured. It is far cheaper per request than the
servers it measures (its CPU share is reported beside its figures), so it is not what limits them.

Run as `python -m simulator.bench.loadgen SPEC_JSON`; prints one JSON line of results.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


@dataclass
class Spec:
    host: str
    port: int
    method: str = "GET"
    path: str = "/"
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    connections: int = 50
    warmup: float = 2.0
    duration: float = 10.0

    def request(self) -> bytes:
        body = self.body.encode()
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if body or self.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Result:
    generator: str
    requests: int = 0  # answers completed in the measured window
    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    cpu_share: float | None = None  # the generator's CPU seconds per wall second (1.0 = one core)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class _Window:
    def __init__(self, begin: float, end: float) -> None:
        self.begin, self.end = begin, end
        self.statuses: dict[int, int] = {}
        self.latencies: list[float] = []
        self.errors = 0


class _Connection(asyncio.Protocol):
    def __init__(self, request: bytes, window: _Window, done: asyncio.Future[None]) -> None:
        self.request = request
        self.window = window
        self.done = done
        self.buffer = b""
        self.need = -1
        self.status = 0
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.need < 0:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[:end]
                match = CONTENT_LENGTH.search(head)
                self.status = int(head[9:12])
                self.need = end + 4 + (int(match[1]) if match else 0)
            if len(self.buffer) < self.need:
                return
            self.buffer = self.buffer[self.need:]
            self.need = -1
            now = time.perf_counter()
            window = self.window
            if window.begin <= now <= window.end:
                window.statuses[self.status] = window.statuses.get(self.status, 0) + 1
                window.latencies.append(now - self.sent_at)
            if now >= window.end:
                assert self.transport is not None
                self.transport.close()
                return
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if time.perf_counter() < self.window.end:
            self.window.errors += 1
        if not self.done.done():
            self.done.set_result(None)


def _percentile(ordered: list[float], share: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _run(spec: Spec) -> Result:
    loop = asyncio.get_running_loop()
    request = spec.request()
    begin = time.perf_counter() + spec.warmup
    window = _Window(begin, begin + spec.duration)
    waits = []
    for _ in range(spec.connections):
        done: asyncio.Future[None] = loop.create_future()
        await loop.create_connection(functools.partial(_Connection, request, window, done), spec.host, spec.port)
        waits.append(done)
    await asyncio.wait_for(asyncio.gather(*waits), spec.warmup + spec.duration + 60)
    ordered = sorted(window.latencies)
    return Result(
        generator="python", requests=len(ordered), seconds=spec.duration,
        statuses={str(k): v for k, v in sorted(window.statuses.items())}, errors=window.errors,
        latency_ms={name: round(_percentile(ordered, share) * 1000, 2)
                    for name, share in (("p50", 0.5), ("p99", 0.99))},
    )


def run_python(spec: Spec) -> Result:
    """In this process (call it in a process of its own: it blocks)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter()
    result = asyncio.run(_run(spec))
    after = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_share = round((after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime)
                             / (time.perf_counter() - wall), 3)
    return result


def run_subprocess(spec: Spec) -> Result:
    """The Python generator in a process of its own (so that it has a core to itself when one is free)."""
    out = subprocess.run([sys.executable, "-m", "simulator.bench.loadgen", json.dumps(asdict(spec))],
                         capture_output=True, text=True, check=True, timeout=spec.warmup + spec.duration + 120)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return Result(**data)


WRK_LUA = """wrk.method = "{method}"
wrk.body = {body}
{headers}
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d %d %f %f\\n", summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(99), 0, 0))
end
"""


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(spec: Spec, workdir: str) -> Result:
    """The same load through `wrk` (one thread: the machine has few cores), when it is installed."""
    headers = "\n".join(f'wrk.headers["{k}"] = {json.dumps(v)}' for k, v in spec.headers.items())
    script = f"{workdir}/wrk-{spec.port}.lua"
    with open(script, "w") as file:
        file.write(WRK_LUA.format(method=spec.method, body=json.dumps(spec.body), headers=headers))
    url = f"http://{spec.host}:{spec.port}{spec.path}"
    if spec.warmup > 0:
        subprocess.run(["wrk", "-t1", f"-c{spec.connections}", f"-d{max(1, round(spec.warmup))}s", "-s", script, url],
                       capture_output=True, check=False)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["wrk", "-t1", f"-c{spec.connections}", f"-d{max(1, round(spec.duration))}s", "-s", script,
                          url], capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    requests, micros, errors, bad_status, p50, p99 = (int(float(x)) for x in line.split()[1:7])
    seconds = micros / 1e6
    return Result(generator="wrk", requests=requests, seconds=seconds, errors=errors,
                  statuses={"non-2xx/3xx": bad_status} if bad_status else {"2xx/3xx": requests},
                  latency_ms={"p50": p50 / 1000, "p99": p99 / 1000},
                  cpu_share=round((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / seconds, 3))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec = Spec(**json.loads(args[0]))
    result = run_python(spec)
    print(json.dumps({k: v for k, v in asdict(result).items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def as_dict(result: Result) -> dict[str, Any]:
    return {**asdict(result), "rate": round(result.rate, 1)}
