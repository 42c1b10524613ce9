"""Turn a finished run (config, tracker, fleet, driver, server check) into the JSON report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..report.schema import SCHEMA, TIMELINE_COUNTERS, VERSION
from ..report.stats import LATENCY_STATES, derive
from .config import RunConfig
from .tracker import FINAL_STATES, MessageRecord, Tracker, classify, turned_out_stored, unconfirmed

LISTED = 1000  # at most this many lost / stuck / disagreeing messages are listed by id


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class RunFacts:
    """What the runner knows besides the tracker."""

    finished_at: float
    checked_at: float
    interrupted: bool = False
    phones_planned: int = 0
    phones_started: int = 0
    phones_failed: int = 0
    ramp_seconds: float | None = None
    scheduled: int = 0
    late: int = 0
    check_requests: int = 0
    check_errors: int = 0
    skipped: int = 0
    inbound: dict[str, Any] | None = None  # InboundTracker.section()
    apis: dict[str, Any] | None = None  # ApiWatch.section(): requests and 404s per API
    phones_offline: list[str] | None = None  # device ids registered that never came online


def _listed(record: MessageRecord, tracker: Tracker) -> dict[str, Any]:
    return {"id": record.id, "account": record.account, "device_id": record.device_id,
            "sent_at": iso(record.sent_at), "phone_state": record.last_state, "server_state": record.server_state,
            "phone_states": {state: iso(at) for state, at in record.states.items()}}


def _run_section(config: RunConfig, tracker: Tracker, facts: RunFacts) -> dict[str, Any]:
    return {
        "server": config.base_url, "mobile_url": config.mobile_url, "thirdparty_url": config.third_party_url,
        "devices": config.devices, "shards": [str(config.shard)],
        "push": config.push, "rate": config.rate, "ramp": config.ramp, "duration": config.duration,
        "grace": config.grace, "client": config.client, "phones_per_account": config.phones_per_account,
        "failure_rate": config.failure_rate, "model": config.model, "thresholds": list(config.thresholds),
        "stages": None if config.stages is None else str(config.stages),
        "rate_stages": None if config.rate_stages is None else str(config.rate_stages),
        "inbound_rate": config.inbound_rate, "seed": config.seed,
        "sent_latency": list(config.sent_latency), "delivered_latency": list(config.delivered_latency),
        "max_in_flight": config.max_in_flight, "private": bool(config.private_token),
        "started_at": iso(tracker.started_at), "finished_at": iso(facts.finished_at),
        "started_epoch": tracker.started_at, "interrupted": facts.interrupted,
    }


def _samples(tracker: Tracker, accepted: list[MessageRecord]) -> dict[str, list[Any]]:
    def ms(value: float | None) -> int | None:
        return None if value is None else round(value * 1000)

    samples: dict[str, list[Any]] = {"sent_ms": [ms(r.sent_at - tracker.started_at) for r in accepted]}
    for state in LATENCY_STATES:
        samples[state] = [ms(r.latency(state)) for r in accepted]
    # every send's answer time (accepted or not) and status, for the CSV files
    answered = list(tracker.messages.values())
    samples["answers"] = [[ms(r.sent_at - tracker.started_at),
                           ms(None if r.answered_at is None else r.answered_at - r.sent_at), r.status]
                          for r in answered]
    return samples


def _timeline(tracker: Tracker, facts: RunFacts) -> list[dict[str, Any]]:
    last = max([tracker.second(facts.finished_at), *tracker.timeline, *tracker.online_by_second])
    timeline = []
    online = 0
    for second in range(last + 1):
        online = tracker.online_by_second.get(second, online)
        counts = tracker.timeline.get(second, Counter())
        timeline.append({"t": second, "online": online, **{key: counts[key] for key in TIMELINE_COUNTERS}})
    return timeline


def build_report(config: RunConfig, tracker: Tracker, facts: RunFacts) -> dict[str, Any]:
    records = list(tracker.messages.values())
    accepted = [r for r in records if r.accepted]
    verdicts: Counter[str] = Counter()
    lost: list[dict[str, Any]] = []
    stuck: list[dict[str, Any]] = []
    final_states: Counter[str] = Counter()
    for record in accepted:
        verdict = classify(record, facts.checked_at, config.grace)
        verdicts[verdict] += 1
        if verdict == "final":
            final_states[record.server_state if record.server_state in FINAL_STATES else str(record.last_state)] += 1
        elif verdict in ("lost", "stuck") and len(lost if verdict == "lost" else stuck) < LISTED:
            (lost if verdict == "lost" else stuck).append(_listed(record, tracker))
    unanswered = [r for r in records if unconfirmed(r)]
    checked = [r for r in accepted if r.server_state is not None]
    disagreeing = [r for r in checked if r.last_state in FINAL_STATES and r.server_state != r.last_state]
    report: dict[str, Any] = {
        "schema": SCHEMA, "version": VERSION,
        "run": _run_section(config, tracker, facts),
        "phones": {"planned": facts.phones_planned, "started": facts.phones_started, "failed": facts.phones_failed,
                   "online_peak": tracker.online_peak, "online_end": len(tracker.online),
                   "ramp_seconds": facts.ramp_seconds, "offline": len(facts.phones_offline or []),
                   "offline_ids": (facts.phones_offline or [])[:LISTED]},
        "messages": {
            "scheduled": facts.scheduled, "attempted": len(records), "accepted": len(accepted),
            "rejected": sum(1 for r in records if r.status not in (None, 202)),
            "send_errors": sum(1 for r in records if r.status is None), "late": facts.late,
            "skipped": facts.skipped,
            "unknown_events": tracker.unknown_events,
            "unknown_samples": tracker.unknown_samples,  # the first few: device, id, state
            "send_results": dict(tracker.send_results),
            "reached": {state: tracker.state_counts[state] for state in ("Processed", "Sent", "Delivered", "Failed")},
            "final_states": dict(final_states),
            **{key: verdicts[key] for key in ("final", "unfinished", "stuck", "lost")},
            # sends with no answer or a 5xx, and those of them that reached a phone all the same (not lost)
            "unconfirmed": len(unanswered),
            "unconfirmed_stored": sum(1 for r in unanswered if turned_out_stored(r)),
        },
        "latency_ms": {},
        "server_check": {
            "requests": facts.check_requests, "errors": facts.check_errors, "checked": len(checked),
            "agree": len(checked) - len(disagreeing), "disagree": len(disagreeing),
            "states": dict(Counter(str(r.server_state) for r in checked)),
            "disagreements": [{"id": r.id, "phone_state": r.last_state, "server_state": r.server_state}
                              for r in disagreeing[:LISTED]],
        },
        "lost": lost,
        "stuck": stuck,
        "errors": {"total": sum(tracker.errors.values()), "by_kind": dict(tracker.errors),
                   "samples": tracker.samples(), "groups": tracker.groups()},
        "failed": [_listed(r, tracker) for r in accepted if _failed(r)][:LISTED],
        "timeline": _timeline(tracker, facts),
        "samples": _samples(tracker, accepted),
    }
    if facts.inbound is not None:
        report["inbound"] = facts.inbound
    if facts.apis is not None:
        report["apis"] = facts.apis
    return derive(report)


def _failed(record: MessageRecord) -> bool:
    """Accepted, and Failed at the end (the server's view wins, as in `classify`)."""
    return (record.server_state if record.server_state is not None else record.last_state) == "Failed"
