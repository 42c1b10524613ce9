"""Load tests as users run them: stages, the open model, thresholds and the verdict, CSV files, shards.

These run on the in-memory world of sim_fakes (a 3rd-party API as an httpx.MockTransport and phones
that obey it), so they are quick; test_sim_inbound.py runs the simulator against the reference server.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from rich.console import Console
from sim_fakes import FakeServer, factory

from simulator.cli import exit_status
from simulator.load import RunConfig, RunHooks, Shard, run_load, summary_lines
from simulator.load.stages import Stages, parse_duration
from simulator.report import csvfiles, merge
from simulator.report.verdict import Threshold, verdict


def hooks(server: FakeServer, transport: httpx.AsyncBaseTransport | None = None) -> RunHooks:
    return RunHooks(factory=factory(server), api_transport=transport or server.transport(), handle_signals=False,
                    console=Console(file=io.StringIO()))


def config(**fields: Any) -> RunConfig:
    defaults: dict[str, Any] = {"server": "http://fake.invalid", "devices": 6, "ramp": 200, "rate": 50,
                                "duration": 1.0, "grace": 0.5, "phones_per_account": 3, "live": False}
    return RunConfig(**{**defaults, **fields})


# --- stages ---------------------------------------------------------------------------------------------
def test_stages_parse_and_shape_a_target_and_a_rate() -> None:
    stages = Stages.parse("30s:100,2m:100,30s:0")
    assert stages.duration == 180 and stages.peak == 100
    assert (stages.target(15), stages.target(100), stages.target(165), stages.target(999)) == (50, 100, 50, 0)
    assert parse_duration("1m30s") == 90 and parse_duration("500ms") == 0.5
    due = list(Stages.parse("2s:10,2s:10,2s:0").due_times())
    assert len(due) == 10 + 20 + 10  # the area under the rate
    assert due == sorted(due) and 0 <= due[0] and due[-1] < 6
    for bad in ("30s", "x:1", "30s:-1"):
        with pytest.raises(ValueError):
            Stages.parse(bad)


async def test_phones_follow_the_stages_and_traffic_goes_to_online_accounts() -> None:
    server = FakeServer()
    run = config(stages=Stages.parse("0.5s:6,1s:6,0.5s:0"), rate_stages=Stages.parse("0.5s:20,1.5s:20"), grace=1)
    assert run.devices == 6 and run.duration == 2
    report = await run_load(run, hooks(server))
    phones, messages = report["phones"], report["messages"]
    assert phones["started"] == 6 and phones["online_peak"] == 6
    assert phones["online_end"] == 0  # the last stage takes every phone offline
    assert messages["attempted"] + messages["skipped"] == 35  # 0 -> 20/s over 0.5 s (5), then 20/s for 1.5 s (30)
    assert messages["attempted"] > 20 and messages["accepted"] == messages["attempted"]
    peak = max(entry["online"] for entry in report["timeline"])
    assert peak == 6


# --- open and closed models ----------------------------------------------------------------------------
class SlowApi(httpx.AsyncBaseTransport):
    """The fake server answering each send after `delay` s, counting how many were outstanding at once."""

    def __init__(self, server: FakeServer, delay: float) -> None:
        self.inner = server.transport()
        self.delay = delay
        self.outstanding = 0
        self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST":
            return await self.inner.handle_async_request(request)
        self.outstanding += 1
        self.peak = max(self.peak, self.outstanding)
        try:
            await trio.sleep(self.delay)
            return await self.inner.handle_async_request(request)
        finally:
            self.outstanding -= 1


@pytest.mark.parametrize("model", ["closed", "open"])
async def test_the_open_model_sends_on_time_however_slow_the_server(model: str) -> None:
    server = FakeServer()
    slow = SlowApi(server, delay=0.6)
    report = await run_load(config(rate=20, duration=0.3, max_in_flight=2, grace=3, model=model),
                            hooks(server, slow))
    assert report["messages"]["attempted"] == 6 and report["run"]["model"] == model
    if model == "closed":
        assert slow.peak == 2  # the driver waited for answers
    else:
        assert slow.peak == 6  # every send left on schedule while the first still waited


# --- the verdict and thresholds --------------------------------------------------------------------------
class FlakyApi(httpx.AsyncBaseTransport):
    """Every `every`-th send gets no answer (the server was down), as a transport error."""

    def __init__(self, server: FakeServer, every: int) -> None:
        self.inner = server.transport()
        self.every = every
        self.sends = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.sends += 1
            if self.sends % self.every == 0:
                raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)


async def test_unanswered_sends_make_the_verdict_red_unless_a_threshold_allows_them() -> None:
    server = FakeServer()
    report = await run_load(config(), hooks(server, FlakyApi(server, every=10)))
    assert report["messages"]["send_errors"] == 5 and report["messages"]["lost"] == 0
    assert not report["verdict"]["ok"] and exit_status(report) != 0
    assert report["verdict"]["reasons"] == ["5 of 50 sends not accepted: no answer x5"]
    assert "RED: 5 of 50 sends not accepted: no answer x5" in "\n".join(summary_lines(report))
    # The same report judged with thresholds: 10 % tolerated, 1 % not.
    assert verdict(report, ["send_errors<=10%"])["ok"]
    strict = verdict(report, ["send_errors<1%"])
    assert not strict["ok"] and strict["reasons"] == ["threshold send_errors<1% failed: 5 of 50 sends not accepted "
                                                      "(10.00%): no answer x5"]


async def test_a_send_answered_201_is_not_accepted() -> None:
    report = await run_load(config(), hooks(FakeServer(send_status=201)))
    assert report["messages"]["accepted"] == 0 and report["messages"]["rejected"] == 50
    assert report["verdict"]["reasons"] == ["50 of 50 sends not accepted: 201 x50 (202 expected)"]
    assert exit_status(report) != 0
    # one error group for the 50 sends, not 50 samples; the ids in it are masked
    assert report["errors"]["groups"] == [{"where": "send", "detail": "201 (the contract answers 202 Accepted)",
                                           "count": 50}]
    assert len(report["errors"]["samples"]) == 5


async def test_phones_that_never_come_online_make_the_verdict_red() -> None:
    report = await run_load(config(duration=3.5), hooks(FakeServer(phones_online=False)))
    assert report["phones"]["started"] == 6 and report["phones"]["offline"] == 6
    assert report["verdict"]["reasons"] == ["6 of 6 registered phones never came online"]
    assert len(set(report["phones"]["offline_ids"])) == 6
    assert "6 never online" in "\n".join(summary_lines(report))


async def test_thresholds_gate_the_exit_status_and_are_marked_in_the_reports(tmp_path: Path) -> None:
    server = FakeServer(lose_every=10)
    run = config(thresholds=("lost<=10%", "send_to_processed.p99<1ms", "send_to_delivered.max<60s"),
                 html=tmp_path / "r.html")
    report = await run_load(run, hooks(server))
    checks = {check["expression"]: check["ok"] for check in report["verdict"]["checks"]}
    assert checks == {"phones_failed==0": True, "phones_offline==0": True, "send_errors==0": True, "stuck==0": True,
                      "unknown_events==0": True,
                      "lost<=10%": True, "send_to_processed.p99<1ms": False, "send_to_delivered.max<60s": True}
    assert exit_status(report) != 0
    assert report["verdict"]["reasons"][0].startswith("threshold send_to_processed.p99<1ms failed: ")
    lines = "\n".join(summary_lines(report))
    assert "FAIL send_to_processed.p99<1ms" in lines and "ok   lost<=10%" in lines
    assert "send_to_processed.p99&lt;1ms" in (tmp_path / "r.html").read_text()
    for bad in ("latency<1s", "send_to_sent<1s", "lost<1s", "lost"):
        with pytest.raises(ValueError):
            Threshold.parse(bad)
    with pytest.raises(ValueError):
        config(thresholds=("nonsense>1",))


# --- CSV -------------------------------------------------------------------------------------------------
async def test_csv_files_as_locust_writes_them(tmp_path: Path) -> None:
    server = FakeServer(lose_every=10)
    report = await run_load(config(csv=str(tmp_path / "run")), hooks(server, FlakyApi(server, every=25)))
    with (tmp_path / "run_stats.csv").open() as handle:
        stats = list(csv.DictReader(handle))
    assert [row["Name"] for row in stats] == ["/messages", "send->Processed", "send->Sent", "send->Delivered",
                                              "Aggregated"]
    post = stats[0]
    assert (post["Type"], int(post["Request Count"]), int(post["Failure Count"])) == ("POST", 50, 2)
    assert int(stats[3]["Failure Count"]) == report["messages"]["lost"] > 0
    assert float(post["50%"]) <= float(post["99%"]) <= float(post["Max Response Time"])
    with (tmp_path / "run_stats_history.csv").open() as handle:
        history = list(csv.DictReader(handle))
    assert len(history) == len(report["timeline"])
    assert sum(int(row["Requests/s"]) for row in history) == 50
    assert int(history[-1]["Total Request Count"]) == 50 and int(history[-1]["Total Failure Count"]) == 2
    with (tmp_path / "run_failures.csv").open() as handle:
        failures = {(row["Name"], row["Error"]): int(row["Occurrences"]) for row in csv.DictReader(handle)}
    assert failures[("/messages", "no answer")] == 2
    assert failures[("send->Delivered", "lost")] == report["messages"]["lost"]


# --- shards ---------------------------------------------------------------------------------------------
def test_the_shard_index_can_come_from_an_indexed_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "2")
    assert Shard.parse("3") == Shard(3, 3) and Shard.parse("1/3") == Shard(1, 3)
    monkeypatch.delenv("JOB_COMPLETION_INDEX")
    with pytest.raises(ValueError, match="JOB_COMPLETION_INDEX"):
        Shard.parse("3")


async def test_three_shards_merged_equal_one_run_of_the_same_size(tmp_path: Path) -> None:
    run = config(devices=9, rate=30, duration=1.0, thresholds=("lost<=20%",), csv=str(tmp_path / "one"))
    one = await run_load(run, hooks(FakeServer(lose_every=10)))
    shards: dict[int, dict[str, Any]] = {}

    async def shard(index: int) -> None:  # at the same time, as the pods of an Indexed Job
        report = await run_load(replace(run, shard=Shard(index, 3), csv=None), hooks(FakeServer(lose_every=10)))
        shards[index] = json.loads(json.dumps(report))  # as read back from the files

    async with trio.open_nursery() as nursery:
        for index in (1, 2, 3):
            nursery.start_soon(shard, index)
    merged = merge([shards[index] for index in (1, 2, 3)])
    for section, keys in (("phones", ("planned", "started", "failed", "online_peak")),
                          ("messages", ("attempted", "accepted", "rejected", "send_errors", "lost", "stuck"))):
        for key in keys:
            assert merged[section][key] == one[section][key], (section, key)
    assert merged["run"]["shards"] == ["1/3", "2/3", "3/3"]
    assert merged["latency_ms"]["Delivered"]["count"] == one["latency_ms"]["Delivered"]["count"]
    assert merged["verdict"]["ok"] == one["verdict"]["ok"] is True
    csvfiles.write(merged, str(tmp_path / "merged"))
    rows = [list(csv.reader((tmp_path / f"{name}_stats.csv").open()))[1][:4] for name in ("one", "merged")]
    assert rows[0] == rows[1]  # POST /messages: same counts


def test_the_kubernetes_manifest_runs_one_shard_per_index_with_valid_options() -> None:
    import yaml

    from simulator.cli import RUN_OPTIONS, _defaults

    root = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
    documents = {d["kind"]: d for d in yaml.safe_load_all((root / "simulator-job.yaml").read_text())}
    job = documents["Job"]["spec"]
    assert job["completionMode"] == "Indexed" and job["completions"] == job["parallelism"]
    command = job["template"]["spec"]["containers"][0]["args"][0]
    assert f"--shard {job['completions']} " in command and "shard-$JOB_COMPLETION_INDEX.json" in command
    data = documents["ConfigMap"]["data"]
    known = {name for name, *_ in RUN_OPTIONS} | {"live", "threshold"}
    assert {key.removeprefix("SMSGATE_SIM_").lower().replace("_", "-") for key in data} <= known
    options = _defaults(None, data)
    assert options["devices"] == 4000
    assert options["threshold"] == ["send_errors<1%", "send_to_sent.p99<2s", "lost==0"]
    merge_job = yaml.safe_load((root / "simulator-merge.yaml").read_text())
    merge_args = merge_job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "smsgate-sim merge /reports/shard-*.json" in merge_args
