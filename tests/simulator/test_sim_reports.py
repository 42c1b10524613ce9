"""The JSON report's documented shape, merging shard reports, and the self-contained HTML page."""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import trio
from rich.console import Console
from sim_fakes import FakeServer, factory

from simulator import cli
from simulator.load import RunConfig, RunHooks, Shard, run_load
from simulator.report import ReportError, merge, read, render_html, validate, write
from simulator.report.schema import SHAPE

REPORTS_DOC = Path(__file__).resolve().parents[2] / "docs" / "simulator-guide" / "reports.md"


def shard_report(shard: Shard, lose_every: int = 0) -> dict[str, Any]:
    server = FakeServer(lose_every=lose_every)
    config = RunConfig(server="http://fake.invalid", devices=8, ramp=400, rate=40, duration=0.5, grace=0.3,
                       phones_per_account=2, shard=shard, live=False)
    hooks = RunHooks(factory=factory(server), api_transport=server.transport(), handle_signals=False,
                     console=Console(file=io.StringIO()))
    return trio.run(run_load, config, hooks)


@pytest.fixture(scope="module")
def shards() -> list[dict[str, Any]]:
    return [shard_report(Shard(1, 2)), shard_report(Shard(2, 2), lose_every=4)]


def test_a_report_has_the_documented_shape(shards: list[dict[str, Any]], tmp_path: Path) -> None:
    report = validate(shards[0])
    assert report["schema"] == "smsgate-sim-report" and report["version"] == 1
    assert report["run"]["shards"] == ["1/2"] and report["phones"]["planned"] == 4  # phones 0, 2, 4, 6
    assert report["messages"]["accepted"] == len(report["samples"]["sent_ms"]) == 10  # 20 msg/s for 0.5 s
    assert report["latency_ms"]["Delivered"]["count"] == 10
    figures = report["latency_ms"]["Delivered"]
    assert figures["min"] <= figures["p50"] <= figures["p95"] <= figures["p99"] <= figures["max"]
    entry = report["timeline"][0]
    assert {"t", "online", "accepted", "Processed", "Sent", "Delivered", "Failed", "errors", "p50"} <= entry.keys()
    write(report, tmp_path / "r.json")
    assert read(tmp_path / "r.json") == json.loads(json.dumps(report))


def test_every_section_of_the_schema_is_documented() -> None:
    section = REPORTS_DOC.read_text().split("## The JSON report", 1)[1].split("\n## ", 1)[0]
    for key, inner in SHAPE.items():
        assert f"`{key}`" in section, key
        for sub in inner if isinstance(inner, dict) else ():
            assert f"`{sub}`" in section, f"{key}.{sub}"


def test_validation_names_the_first_bad_key(shards: list[dict[str, Any]]) -> None:
    broken = copy.deepcopy(shards[0])
    del broken["messages"]["lost"]
    with pytest.raises(ReportError, match="messages.lost: missing"):
        validate(broken)
    broken = copy.deepcopy(shards[0])
    broken["phones"]["started"] = True
    with pytest.raises(ReportError, match="phones.started: expected int"):
        validate(broken)
    with pytest.raises(ReportError, match="not a smsgate-sim-report"):
        validate({**shards[0], "schema": "other"})


def test_merging_shards_adds_counts_and_recomputes_percentiles(shards: list[dict[str, Any]]) -> None:
    merged = merge(shards)
    validate(merged)
    assert merged["run"]["shards"] == ["1/2", "2/2"] and "missing_shards" not in merged["run"]
    for key in ("attempted", "accepted", "lost", "final"):
        assert merged["messages"][key] == sum(s["messages"][key] for s in shards), key
    assert merged["messages"]["lost"] == 2 and len(merged["lost"]) == 2
    assert {item["shard"] for item in merged["lost"]} == {"2/2"}
    assert merged["phones"]["planned"] == 8
    delivered = sorted(v for s in shards for v in s["samples"]["Delivered"] if v is not None)
    assert merged["latency_ms"]["Delivered"]["count"] == len(delivered)
    assert merged["latency_ms"]["Delivered"]["max"] == delivered[-1]
    # Timelines are aligned on wall-clock time: shard 2 started later, so its seconds move right.
    shift = round(shards[1]["run"]["started_epoch"] - shards[0]["run"]["started_epoch"])
    accepted_2 = sum(e["accepted"] for e in shards[1]["timeline"])
    assert sum(e["accepted"] for e in merged["timeline"][shift:]) >= accepted_2
    assert sum(e["accepted"] for e in merged["timeline"]) == merged["messages"]["accepted"]


def test_merging_refuses_a_shard_twice_and_flags_missing_ones(shards: list[dict[str, Any]]) -> None:
    with pytest.raises(ReportError, match="1/2"):
        merge([shards[0], shards[0]])
    assert merge([shards[0]])["run"]["missing_shards"] is True


def test_the_merge_command(shards: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for index, report in enumerate(shards):
        write(report, tmp_path / f"s{index}.json")
    code = cli.main(["merge", str(tmp_path / "s0.json"), str(tmp_path / "s1.json"),
                     "--report", str(tmp_path / "all.json"), "--html", str(tmp_path / "all.html")])
    assert code == cli.EXIT_LOST  # shard 2 lost messages on purpose
    assert read(tmp_path / "all.json")["messages"]["lost"] == 2
    assert "2 lost" in capsys.readouterr().out
    assert "<svg" in (tmp_path / "all.html").read_text()
    (tmp_path / "bad.json").write_text("{}")
    assert cli.main(["merge", str(tmp_path / "bad.json"), "--report", str(tmp_path / "x.json")]) == 1


def test_the_html_page_is_self_contained(shards: list[dict[str, Any]]) -> None:
    page = render_html(merge(shards))
    assert page.startswith("<!DOCTYPE html>")
    assert "<table>" in page and page.count("<svg") == 5 and "<polyline" in page
    assert "2 lost, 0 stuck" in page and "Lost (2)" in page
    assert 'viewBox="0 0 ' in page and "<svg width=" not in page  # charts scale to the page
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert "<link" not in page.lower()
