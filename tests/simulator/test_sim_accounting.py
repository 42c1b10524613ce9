"""The driver's accounting: what counts as final, unfinished, stuck or lost, end to end on a fake world."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from sim_fakes import FakeServer, factory

from simulator.load import RunConfig, RunHooks, run_load
from simulator.load.summary import summary_lines
from simulator.load.tracker import MessageRecord, Tracker, classify
from simulator.report.merge import merge

NOW = 1_700_000_000.0


def record(**fields: object) -> MessageRecord:
    rec = MessageRecord("m1", 0, sent_at=NOW - 100, status=202)
    for key, value in fields.items():
        setattr(rec, key, value)
    return rec


def test_the_server_view_decides_when_known() -> None:
    assert classify(record(server_state="Delivered"), NOW, grace=30) == "final"
    assert classify(record(server_state="Failed", last_state="Sent"), NOW, grace=30) == "final"
    # The phone finished, the server never heard of it: the user sees a message that is not done.
    assert classify(record(server_state="Sent", last_state="Delivered", states={"Sent": NOW}), NOW, 30) == "stuck"


def test_stuck_means_a_phone_had_it_and_lost_means_none_did() -> None:
    assert classify(record(server_state="Processed", states={"Processed": NOW}), NOW, 30) == "stuck"
    assert classify(record(server_state="Pending", states={"Processed": NOW}), NOW, 30) == "stuck"
    assert classify(record(server_state="Pending"), NOW, 30) == "lost"
    assert classify(record(server_state="missing"), NOW, 30) == "lost"
    assert classify(record(), NOW, 30) == "lost"  # no server view, no phone report


def test_younger_than_the_grace_period_is_unfinished_not_lost() -> None:
    young = record(sent_at=NOW - 5, server_state="Pending")
    assert classify(young, NOW, grace=30) == "unfinished"
    assert classify(young, NOW, grace=5) == "lost"


def test_tracker_counts_states_once_and_ignores_foreign_ids() -> None:
    tracker = Tracker(started_at=NOW - 10)
    rec = tracker.sending("m1", 0, at=NOW - 5)
    tracker.sent(rec, 202, "dev1")
    at = datetime.fromtimestamp(NOW - 4, UTC)
    tracker.message_state("dev1", "m1", "Processed", at)
    tracker.message_state("dev1", "m1", "Processed", datetime.fromtimestamp(NOW - 3, UTC))
    tracker.message_state("dev1", "other", "Sent", at)
    assert tracker.state_counts["Processed"] == 1
    assert rec.latency("Processed") == 1.0
    assert tracker.unknown_events == 1
    rejected = tracker.sending("m2", 0)
    tracker.sent(rejected, 400, error="400 bad number")
    assert tracker.send_results == {"202": 1, "400": 1}
    assert tracker.in_flight() == 1


async def test_a_run_lists_exactly_the_lost_and_stuck_messages(tmp_path: Path) -> None:
    server = FakeServer(lose_every=10, stick_every=7)
    config = RunConfig(server="http://fake.invalid", devices=6, ramp=200, rate=50, duration=1.0, grace=0.5,
                       phones_per_account=3, report=tmp_path / "r.json", html=tmp_path / "r.html", live=False)
    hooks = RunHooks(factory=factory(server), api_transport=server.transport(), handle_signals=False,
                     console=Console(file=io.StringIO()))
    report = await run_load(config, hooks)
    messages = report["messages"]
    assert messages["accepted"] == messages["attempted"] == 50
    assert {item["id"] for item in report["lost"]} == server.lost and len(server.lost) == 5
    assert {item["id"] for item in report["stuck"]} == server.stuck and len(server.stuck) == 7
    assert (messages["lost"], messages["stuck"], messages["final"], messages["unfinished"]) == (5, 7, 38, 0)
    assert all(item["server_state"] == "Pending" for item in report["lost"])
    assert all(item["server_state"] == "Sent" for item in report["stuck"])
    assert report["server_check"]["disagree"] == 0 and report["server_check"]["checked"] == 50
    assert report["phones"]["started"] == 6 and report["phones"]["online_peak"] == 6
    assert report["latency_ms"]["Delivered"]["count"] == 38
    assert json.loads((tmp_path / "r.json").read_text())["messages"]["lost"] == 5
    assert "<svg" in (tmp_path / "r.html").read_text()


async def test_sends_that_timed_out_but_reached_a_phone_count_apart_from_lost_ones(tmp_path: Path) -> None:
    server = FakeServer(drop_every=5, unanswered_every=4)
    config = RunConfig(server="http://fake.invalid", devices=4, ramp=200, rate=40, duration=1.0, grace=0.5,
                       phones_per_account=2, report=tmp_path / "r.json", html=tmp_path / "r.html", live=False)
    hooks = RunHooks(factory=factory(server), api_transport=server.transport(), handle_signals=False,
                     console=Console(file=io.StringIO()))
    report = await run_load(config, hooks)
    messages = report["messages"]
    assert len(server.dropped) == 8 and len(server.unanswered) == 8  # of 40: 5, 10, ... and 4, 8, 12, 16, 24, ...
    assert messages["send_errors"] == messages["unconfirmed"] == 16
    assert messages["unconfirmed_stored"] == 8  # the phones had exactly the unanswered ones
    assert messages["accepted"] == 24 and messages["lost"] == 0 and messages["final"] == 24
    lines = "\n".join(summary_lines(report))
    assert "16 sends got no answer or a 5xx, 8 of them stored all the same" in lines
    other = {**report, "run": {**report["run"], "shards": ["2/2"]}}
    assert merge([report, other])["messages"]["unconfirmed_stored"] == 16  # shards add up
