"""Everything a run observes: phones online, each message's send and states, errors, a per-second timeline.

The tracker is the fleet's `PhoneObserver` (phones report states as they reach them) and the driver's
notebook (it records each send before the request leaves). Times are wall-clock epoch seconds: the
phones stamp their states with wall-clock datetimes, and shards on other machines merge by them.
"""

from __future__ import annotations

import re
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime

FINAL_STATES = frozenset({"Delivered", "Failed", "Cancelled"})
PROGRESS_STATES = ("Processed", "Sent", "Delivered", "Failed")
LATENCY_STATES = ("Processed", "Sent", "Delivered")
SAMPLES_PER_KIND = 5  # the first errors of each kind (send, registration, sse, ...) are kept whole
ERROR_GROUPS = 200  # distinct errors counted (Locust's failures table); the rest count under their kind only
OFFLINE_GRACE = 3.0  # seconds a phone registered before the end may take to come online without counting
RECENT_WINDOW = 10.0  # seconds of final states behind the live percentiles


@dataclass
class MessageRecord:
    id: str
    account: int
    sent_at: float  # just before the POST left
    status: int | None = None  # HTTP status of the send; None while in flight or after a transport error
    answered_at: float | None = None  # when the send's answer (or its transport error) came
    error: str | None = None  # why the send was not accepted
    device_id: str | None = None  # the device the server chose (202 body) or the phone that reported
    states: dict[str, float] = field(default_factory=dict)  # first time each state was reported by a phone
    last_state: str | None = None  # the phone's latest report
    server_state: str | None = None  # the server's view at the check; "missing" when it does not know the id
    server_states: dict[str, str] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.status == 202

    def latency(self, state: str) -> float | None:
        at = self.states.get(state)
        return None if at is None else at - self.sent_at


def classify(record: MessageRecord, checked_at: float, grace: float) -> str:
    """final | unfinished (younger than the grace period) | stuck (a phone had it) | lost (no phone had it).

    The server's state wins when the check saw it: a phone's Delivered the server never recorded is not final.
    """
    state = record.server_state if record.server_state is not None else record.last_state
    if state in FINAL_STATES:
        return "final"
    if checked_at - record.sent_at < grace:
        return "unfinished"
    if state in ("Processed", "Sent") or record.states:
        return "stuck"
    return "lost"


def unconfirmed(record: MessageRecord) -> bool:
    """The send got no answer (a timeout, a dropped connection) or a 5xx: whether it was stored is unknown."""
    return (record.status is None and record.error is not None) or (record.status or 0) >= 500


def turned_out_stored(record: MessageRecord) -> bool:
    """A phone received it (or the server check found it) all the same: the sender was told nothing, not lost."""
    return bool(record.states) or record.server_state not in (None, "missing")


class Tracker:
    def __init__(self, started_at: float | None = None) -> None:
        self.started_at = time.time() if started_at is None else started_at
        self.messages: dict[str, MessageRecord] = {}
        self.registered_devices: set[str] = set()
        self.online: set[str] = set()
        self.online_peak = 0
        self.state_counts: Counter[str] = Counter()  # messages that reached each state (phone view)
        self.send_results: Counter[str] = Counter()  # "202", "400", ..., "error"
        self.errors: Counter[str] = Counter()  # phone errors by `where`, plus "send" and "registration"
        self.error_samples: dict[str, list[dict[str, str]]] = {}  # by kind, the first SAMPLES_PER_KIND
        self.error_groups: Counter[tuple[str, str]] = Counter()  # (kind, the detail with ids masked) -> count
        self.unknown_events = 0  # states reported for ids this run never sent
        self.unknown_samples: list[dict[str, str]] = []  # the first few of them
        self.registered_at: dict[str, float] = {}
        self.ever_online: set[str] = set()
        self.timeline: dict[int, Counter[str]] = {}
        self.online_by_second: dict[int, int] = {}
        self.recent: deque[tuple[float, float]] = deque()  # (final at, send -> final latency)

    # --- the clock ------------------------------------------------------------------------------------
    def second(self, at: float) -> int:
        return max(0, int(at - self.started_at))

    def _bump(self, at: float, key: str) -> None:
        self.timeline.setdefault(self.second(at), Counter())[key] += 1

    def sample(self, now: float | None = None) -> None:
        """Called about once a second: remember how many phones were online."""
        now = time.time() if now is None else now
        self.online_by_second[self.second(now)] = len(self.online)
        while self.recent and self.recent[0][0] < now - RECENT_WINDOW:
            self.recent.popleft()

    # --- PhoneObserver --------------------------------------------------------------------------------
    def registered(self, device_id: str) -> None:
        self.registered_devices.add(device_id)
        self.registered_at.setdefault(device_id, time.time())

    def connected(self, device_id: str, transport: str) -> None:
        self.online.add(device_id)
        self.ever_online.add(device_id)
        self.online_peak = max(self.online_peak, len(self.online))

    def disconnected(self, device_id: str, transport: str) -> None:
        self.online.discard(device_id)

    def message_state(self, device_id: str, message_id: str, state: str, at: datetime) -> None:
        record = self.messages.get(message_id)
        if record is None:
            self.unknown_events += 1
            if len(self.unknown_samples) < SAMPLES_PER_KIND:
                self.unknown_samples.append({"device": device_id, "id": message_id, "state": state})
            return
        stamp = at.timestamp()
        record.last_state = state
        record.device_id = record.device_id or device_id
        if state in record.states:
            return
        record.states[state] = stamp
        self.state_counts[state] += 1
        self._bump(stamp, state)
        if state in FINAL_STATES:
            self.recent.append((stamp, stamp - record.sent_at))

    def error(self, device_id: str, where: str, detail: str) -> None:
        self.errors[where] += 1
        self._bump(time.time(), "errors")
        self._sample(device_id, where, detail)

    def _sample(self, device_id: str, where: str, detail: str, group: str | None = None) -> None:
        samples = self.error_samples.setdefault(where, [])
        if len(samples) < SAMPLES_PER_KIND:
            samples.append({"device": device_id, "where": where, "detail": detail[:300]})
        key = (where, group or masked(detail))
        if key in self.error_groups or len(self.error_groups) < ERROR_GROUPS:
            self.error_groups[key] += 1

    # --- the driver -----------------------------------------------------------------------------------
    def sending(self, message_id: str, account: int, at: float | None = None) -> MessageRecord:
        record = MessageRecord(message_id, account, time.time() if at is None else at)
        self.messages[message_id] = record
        self._bump(record.sent_at, "attempted")
        return record

    def sent(self, record: MessageRecord, status: int | None, device_id: str | None = None,
             error: str | None = None) -> None:
        record.status = status
        record.answered_at = time.time()
        record.error = error
        if device_id:
            record.device_id = device_id
        self.send_results["error" if status is None else str(status)] += 1
        self._bump(record.sent_at, "accepted" if status == 202 else "rejected")
        if status != 202:
            self.errors["send"] += 1
            detail = (error or str(status)).replace(record.id, "<id>")
            group = None
            if status is not None and 200 <= status < 300:  # a success body differs per message: one group
                group = f"{status} (the contract answers 202 Accepted)"
                detail = f"{group}: {detail}"
            self._sample("", "send", detail, group)

    def registration_failed(self, detail: str) -> None:
        """Once per phone that gave up: `detail` names the phone, how it registered and the last answer."""
        self.errors["registration"] += 1
        self._sample("", "registration", detail)

    def phones_offline(self, at: float) -> list[str]:
        """Phones registered (OFFLINE_GRACE s before `at` or earlier) that never came online."""
        return sorted(device for device, since in self.registered_at.items()
                      if device not in self.ever_online and since < at - OFFLINE_GRACE)

    def samples(self) -> list[dict[str, str]]:
        return [sample for samples in self.error_samples.values() for sample in samples]

    def groups(self) -> list[dict[str, object]]:
        """Distinct errors, the most frequent first: kind, the detail (ids masked), occurrences."""
        ordered = sorted(self.error_groups.items(), key=lambda item: (-item[1], item[0]))
        return [{"where": where, "detail": detail, "count": count} for (where, detail), count in ordered]

    # --- views ----------------------------------------------------------------------------------------
    @property
    def accepted(self) -> int:
        return self.send_results["202"]

    def in_flight(self) -> int:
        """Accepted messages no phone has finished yet."""
        return sum(1 for r in self.messages.values() if r.accepted and not (r.states.keys() & FINAL_STATES))

    def recent_latencies(self) -> list[float]:
        return sorted(latency for _, latency in self.recent)


_MASKS = (
    (re.compile(r"sim\d+-[0-9a-f]+-\d+"), "<id>"),  # our message ids
    (re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:?\d\d)?"), "<time>"),
    (re.compile(r"\bphone \d+"), "phone N"),
    (re.compile(r"\battempt \d+"), "attempt N"),
    (re.compile(r"\b(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{12,}\b"), "<…>"),  # tokens, ids
)


def masked(detail: str) -> str:
    """An error's detail with what differs between occurrences (ids, times, phone numbers) masked, so the
    same error from 60 sends is one group."""
    for pattern, replacement in _MASKS:
        detail = pattern.sub(replacement, detail)
    return detail[:200]
