"""A request's deadline, shared by the request's task and the worker threads that run its database work.

At the deadline a request whose work has not committed answers 503, and none of that work may commit later.
Who wins is decided once, under a lock, by whichever side comes first: a worker thread about to COMMIT claims
the deadlines of the requests whose units its transaction holds (those requests then wait for the COMMIT and
answer from its outcome), or the request's watchdog expires it (every later COMMIT holding its work is refused
and rolled back). A COMMIT sent but never confirmed (the database froze or went away mid-COMMIT) has an unknown
outcome: the request says so (504) instead of guessing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

_lock = threading.Lock()  # one for every deadline: a group commit claims several at once
_WROTE = "smsgate_wrote"  # key in Connection.info: a statement other than SELECT ran since the last reset


class RequestExpired(Exception):
    """The request's deadline passed before its database work committed: the work was rolled back."""


class CommitUnknown(Exception):
    """COMMIT was sent for this request's work and never confirmed: it may or may not have taken effect."""


class Deadline:
    """One request's commit-or-expire state. `expired` may be read without the lock as a hint."""

    __slots__ = ("expired", "committing", "wrote")

    def __init__(self) -> None:
        self.expired = False
        self.committing = 0  # COMMITs holding this request's work, in flight
        self.wrote = False  # a COMMIT holding a write of this request succeeded

    def expire(self) -> bool:
        """At the deadline: True when nothing of the request was committed or is committing, nor ever will be."""
        with _lock:
            if self.committing or self.wrote:
                return False
            self.expired = True
            return True


current: ContextVar[Deadline | None] = ContextVar("smsgate_request_deadline", default=None)


def claim(deadlines: Sequence[Deadline | None]) -> list[Deadline]:
    """Right before COMMIT: the deadlines now committing; RequestExpired (roll back) when one has expired."""
    live = [deadline for deadline in deadlines if deadline is not None]
    with _lock:
        if any(deadline.expired for deadline in live):
            raise RequestExpired()
        for deadline in live:
            deadline.committing += 1
    return live


def settle(claimed: Sequence[Deadline], wrote: Sequence[bool] | None = None) -> None:
    """After the COMMIT (`wrote` given when it succeeded: which of the claimed requests' units wrote)."""
    with _lock:
        for index, deadline in enumerate(claimed):
            deadline.committing -= 1
            if wrote is not None and wrote[index]:
                deadline.wrote = True


def track_writes(engine: Engine) -> None:
    """Marks a connection that ran a statement other than SELECT (see `wrote`)."""

    def before(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip()[:6].upper() != "SELECT":
            conn.info[_WROTE] = True

    sa.event.listen(engine, "before_cursor_execute", before)


def wrote(conn: Connection, reset: bool = True) -> bool:
    """Whether `conn` wrote since the last reset (resetting it)."""
    result = bool(conn.info.get(_WROTE))
    if reset:
        conn.info[_WROTE] = False
    return result


def commit(conn: Connection, deadlines: Sequence[Deadline | None], unit_wrote: Sequence[bool],
           unknown_on_failure: bool) -> None:
    """COMMIT `conn`'s transaction if none of `deadlines` expired (else RequestExpired: the caller rolls back).

    A failed COMMIT is CommitUnknown for the requests that waited for it when `unknown_on_failure` (a server
    that may have received it); else its own error (SQLite: nothing was committed).
    """
    claimed = claim(deadlines)
    try:
        conn.commit()
    except Exception as exc:
        settle(claimed)
        if claimed and unknown_on_failure:
            raise CommitUnknown() from exc
        raise
    settle(claimed, [flag for deadline, flag in zip(deadlines, unit_wrote, strict=True) if deadline is not None])
