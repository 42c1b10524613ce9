"""The bench's own parts that need no server: requests it sends, percentiles, the merged rounds, the table."""

from __future__ import annotations

from simulator.bench.accept import _merge
from simulator.bench.fleet import _percentiles
from simulator.bench.loadgen import Spec
from simulator.bench.report import table


def test_the_load_generator_sends_a_complete_request() -> None:
    spec = Spec("127.0.0.1", 8080, "POST", "/x", {"Authorization": "Basic abc"}, '{"a":1}')
    assert spec.request() == (b"POST /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Basic abc\r\n"
                              b"Content-Length: 7\r\n\r\n{\"a\":1}")


def test_percentiles_are_nearest_rank_in_milliseconds() -> None:
    figures = _percentiles([i / 1000 for i in range(1, 101)])
    assert figures == {"p50": 50.0, "p95": 95.0, "p99": 99.0, "count": 100}
    assert _percentiles([])["p99"] is None


def test_rounds_add_up() -> None:
    slices = [{"generator": "python", "requests": n, "seconds": 2.0, "rate": n / 2, "statuses": {"202": n},
               "errors": 0, "latency_ms": {"p50": n}, "cpu_share": 0.1, "server_cpu_share": 0.5} for n in (100, 300)]
    merged = _merge(slices)
    assert merged["rate"] == 100.0 and merged["ok_share"] == 1.0 and merged["per_server_cpu_second"] == 200.0
    assert merged["rounds"] == [50.0, 150.0]


def test_the_table_shows_each_figure_with_its_ceiling() -> None:
    accept = {"ceilings": {"w1": {"rate": 1000.0}}, "skipped": {"mariadb-w1": "MariaDB not reachable"},
              "servers": {"sqlite-w1": {"rate": 750.0, "ratio": 0.75, "cpu_ratio": 0.7, "latency_ms": {"p99": 80}}}}
    latency = {state: {"p50": 10, "p95": 20, "p99": 30, "count": 9} for state in ("Processed", "Sent", "Delivered")}
    best = {"rate": 150.0, "delivered_per_second": 151.0, "lost": 0, "stuck": 0, "latency_ms": latency,
            "server_requests_per_message": 5.0, "server_cpu_share": 0.9, "simulator_cpu_share": 0.5}
    text = table({"accept": accept, "e2e": {"phones": 1000, "best": best, "steps": [best]},
                  "load_generator": {"summary": "python generator: at most 9% of a core"}})
    assert "| Accept, SQLite, 1 process" in text and "75% (70% per CPU s)" in text and "| yes" in text
    assert "MariaDB not reachable" in text
    assert "200 msg/s (minimal route / 5.0 requests per message)" in text
    assert "10 ms / 20 ms / 30 ms" in text
