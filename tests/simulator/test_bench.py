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


def _row(text: str, label: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {label}"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_every_target_is_shown_with_met_or_not() -> None:
    accept = {"ceilings": {"w1": {"rate": 1000.0}, "w2": {"rate": 1800.0}}, "skipped": {},
              "servers": {f"{b}-w{w}": {"rate": r, "ratio": r / (1000.0 * w), "latency_ms": {"p99": 9}}
                          for b, w, r in (("sqlite", 1, 700.0), ("sqlite", 2, 1200.0), ("mariadb", 1, 500.0),
                                          ("mariadb", 2, 600.0))}}
    latency = {state: {"p50": 10, "p95": 20, "p99": 30, "count": 9} for state in ("Processed", "Sent", "Delivered")}
    best = {"rate": 120.0, "delivered_per_second": 115.0, "lost": 0, "stuck": 0, "latency_ms": latency,
            "server_requests_per_message": 5.0, "server_cpu_share": 0.9, "simulator_cpu_share": 1.2}
    simulator = {"ceiling": {"bytes_per_stream": 25 * 1024},
                 "phones": {"phones": 10_000, "online": 10_000, "rss_mb": 900.0, "kb_per_phone": 45.0,
                            "ratio_to_bare_stream": 1.8, "base_rss_bytes": 60 * 1048576}}
    text = table({"accept": accept, "e2e": {"phones": 1000, "best": best, "steps": [best]}, "simulator": simulator})
    assert _row(text, "Accept, SQLite, 1 process")[-2:] == [">= 70%", "yes"]
    assert _row(text, "Accept, MariaDB, 1 process")[-2:] == [">= 60%", "no"]
    assert _row(text, "Accept, SQLite: 2 processes / 1 process")[-3:] == ["1.71x", ">= 1.6x", "yes"]
    assert _row(text, "Accept, MariaDB: 2 processes / 1 process")[-3:] == ["1.20x", ">= 1.6x", "no"]
    assert _row(text, "End to end, 1000 phones")[-3:] == ["57%", ">= 55%, 0 lost", "yes"]  # 115 of 200
    assert _row(text, "  send->Sent")[-2:] == ["p99 < 1 s", "yes"]
    assert _row(text, "1,000 active phones")[-1] == "no"  # 120% of a core
    assert _row(text, "Idle phones")[-2:] == ["<= 2x", "yes"]
    assert _row(text, "  10,000 idle phones")[-1] == "yes"


def test_a_smaller_idle_run_projects_the_10000_phones_without_a_verdict() -> None:
    simulator = {"ceiling": {"bytes_per_stream": 25 * 1024},
                 "phones": {"phones": 300, "online": 300, "rss_mb": 80.0, "kb_per_phone": 70.0,
                            "ratio_to_bare_stream": 2.8, "base_rss_bytes": 60 * 1048576}}
    row = _row(table({"simulator": simulator}), "  10,000 idle phones")
    assert "10,000 at this cost: ~744 MB" in row[1] and row[-1] == "–"


def test_the_profile_summary_splits_self_time_by_layer() -> None:
    from simulator.bench.profile import summarise

    collapsed = "\n".join([
        "thread (1): MainThread;run (trio/_core/_run.py:1);_nonblocking_helper (trio/_socket.py:1050) 3",
        "thread (1): MainThread;run (trio/_core/_run.py:1);send_message (reference_server/api/thirdparty.py:43) 1",
        "thread (2): worker;_work (trio/_core/_thread_cache.py:1);do_execute (sqlalchemy/engine/default.py:1) 4",
    ])
    text = summarise(collapsed)
    assert "8 samples" in text and "event loop 50.0%" in text
    assert "37.5%  socket syscalls" in text and "50.0%  sqlalchemy" in text and "12.5%  ours: api" in text
