"""What one bench run measures, and how long it may take."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PARTS = ("accept", "e2e", "connections", "simulator")
DEFAULT_MARIADB = "mysql+pymysql://root@127.0.0.1:3306/smsgate_bench"


@dataclass(frozen=True)
class BenchConfig:
    parts: tuple[str, ...] = PARTS
    output: Path = Path("bench-results.json")
    # accept
    connections: int = 50  # as `wrk -c50`
    warmup: float = 3.0
    duration: float = 9.0  # measured seconds per server, in `rounds` slices
    rounds: int = 3
    mariadb_url: str = DEFAULT_MARIADB  # "" skips MariaDB
    loadgen: str = "python"  # python | wrk (falls back to python when wrk is missing)
    # end to end
    phones: int = 1000
    phones_per_account: int = 10
    # Steps of 25 msg/s up to 200: on a slow 2-core machine the server saturates between 50 and 100 msg/s, and
    # steps of 50 hid where (the figure is the highest rate that passed).
    rates: tuple[float, ...] = (50.0, 75.0, 100.0, 125.0, 150.0, 175.0, 200.0, 250.0)
    step_seconds: float = 10.0
    latency_limit: float = 1.0  # p99 send -> Sent must stay under this (seconds)
    # connections and the simulator
    sse_connections: int = 10_000
    idle_phones: int = 10_000
    # Seconds the idle phones have to come online: 10,000 app start-ups are 60,000 requests (PATCH /device,
    # webhooks, settings, SSE, two pulls), about 140 s of one server core on a quiet 2-core machine.
    idle_within: float = 300.0
    quick: bool = False

    def scaled(self) -> BenchConfig:
        """`--quick`: the same figures on a small scale (a minute or so), to try the bench itself."""
        from dataclasses import replace

        return replace(self, warmup=1.0, duration=3.0, phones=100, rates=(20.0, 40.0), step_seconds=5.0,
                       sse_connections=500, idle_phones=300)
