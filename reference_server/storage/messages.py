"""Messages with their recipients and first-reached state history."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import heapq
import itertools
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..domain.clock import now
from ..domain.models import Message, Recipient, StateReport
from . import counts
from .database import Database
from .dialect import insert_ignoring_duplicates
from .tables import Timestamp, devices, message_counts, message_recipients, message_states, messages


class DuplicateMessage(Exception):
    """A message with this id already exists on the device."""


class DuplicateRecipient(Exception):
    """Two recipients the database counts as one (MariaDB before migration 0006 folded case and some characters)."""


@dataclass
class MessageFilter:
    user_id: str
    since: datetime | None = None
    until: datetime | None = None
    state: str | None = None
    device_id: str | None = None
    limit: int = 50
    offset: int = 0
    newest_first: bool = True
    after: tuple[datetime, int] | None = None  # keyset cursor: the (created_at, id) of the last row seen


class MessagesRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        counts.install(db.engine)

    async def insert(self, message: Message) -> Message:
        return await self.db.batched(_insert, message, many=_insert_many)

    async def find_for_user(self, user_id: str, ext_id: str) -> list[Message]:
        return await self.db.read(_find_for_user, user_id, ext_id)

    async def search(self, query: MessageFilter) -> tuple[list[Message], int]:
        return await self.db.read(_list, query)

    async def mark_cancelling(self, user_id: str, ext_id: str) -> tuple[list[Message], bool]:
        """Moves the message to Cancelling if it is Pending; returns the matches and whether it moved."""
        return await self.db.run(_mark_cancelling, user_id, ext_id)

    async def pending_for_device(self, device_id: str, fifo: bool, limit: int = 100) -> list[Message]:
        return await self.db.batched(_pending_for_device, device_id, fifo, limit)

    async def apply_reports(self, device_id: str, reports: list[StateReport]) -> list[str]:
        """Stores what the device reports; returns the ids it knew."""
        return await self.db.batched(_apply_reports, device_id, reports)


# Built once: a statement built per call costs more Python than running it (SQLAlchemy derives its cache key).
_INSERT_MESSAGE = messages.insert()
_INSERT_RECIPIENT = message_recipients.insert()
_INSERT_STATE = message_states.insert()


_INSERT_MESSAGES = messages.insert().returning(messages.c.id, messages.c.device_id, messages.c.ext_id)


def _message_row(message: Message, moment: datetime) -> dict[str, Any]:
    return {
        "device_id": message.device_id, "ext_id": message.ext_id, "type": message.type,
        "content": message.content, "state": message.state, "valid_until": message.valid_until,
        "schedule_at": message.schedule_at, "sim_number": message.sim_number,
        "with_delivery_report": message.with_delivery_report, "priority": message.priority, "is_hashed": False,
        "is_encrypted": message.is_encrypted, "created_at": moment, "updated_at": moment,
    }


def _insert(conn: Connection, message: Message) -> Message:
    moment = message.created_at or now()
    # A failed statement undoes only itself; the exception then rolls back the whole unit (its transaction, or
    # its savepoint in a batch), message row included.
    try:
        result = conn.execute(_INSERT_MESSAGE, _message_row(message, moment))
    except sa.exc.IntegrityError as exc:
        raise DuplicateMessage(message.ext_id) from exc
    message.id = int(result.inserted_primary_key[0])  # type: ignore[index]
    try:
        conn.execute(_INSERT_RECIPIENT, _recipient_rows(message))
    except sa.exc.IntegrityError as exc:
        raise DuplicateRecipient(message.ext_id) from exc
    conn.execute(_INSERT_STATE, {"message_id": message.id, "state": "Pending", "updated_at": moment})
    _inserted(conn, [message], [moment])
    return message


def _insert_many(conn: Connection, calls: list[tuple[Message]]) -> list[Message]:
    """The `many` form of `_insert` for a group-commit batch: three statements for all its messages, one per
    table, each a multi-row INSERT (RETURNING gives the new ids; SQLite 3.35+, MariaDB 10.5+, PostgreSQL).
    Any error (a duplicate) fails the batch, whose units then run alone through `_insert`, each with its own
    outcome."""
    batch = [message for (message,) in calls]
    if not conn.dialect.insert_returning:
        return [_insert(conn, message) for message in batch]
    moments = [message.created_at or now() for message in batch]
    ids: dict[tuple[str, str], int] = {}
    for chunk in _chunks(list(zip(batch, moments, strict=True))):
        # The rows come back in no promised order: matched by (device_id, ext_id), unique per message.
        for row in conn.execute(_INSERT_MESSAGES, [_message_row(m, t) for m, t in chunk]):
            ids[(row.device_id, row.ext_id)] = row.id
    for message in batch:
        message.id = int(ids[(message.device_id, message.ext_id)])
    conn.execute(_INSERT_RECIPIENT, [row for message in batch for row in _recipient_rows(message)])
    conn.execute(_INSERT_STATE, [{"message_id": m.id, "state": "Pending", "updated_at": t}
                                 for m, t in zip(batch, moments, strict=True)])
    _inserted(conn, batch, moments)
    return batch


STATEMENT_BYTES = 2_000_000  # characters of content per multi-row INSERT: under MariaDB's max_allowed_packet (16 MB)


def _chunks(rows: list[tuple[Message, datetime]]) -> list[list[tuple[Message, datetime]]]:
    """The batch's messages in runs of at most STATEMENT_BYTES of content (a message bigger than that alone)."""
    chunks: list[list[tuple[Message, datetime]]] = [[]]
    size = 0
    for row in rows:
        length = len(row[0].content)
        if chunks[-1] and size + length > STATEMENT_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += length
    return chunks


def _recipient_rows(message: Message) -> list[dict[str, Any]]:
    return [{"message_id": message.id, "phone_number": r.phone_number, "state": r.state} for r in message.recipients]


def _inserted(conn: Connection, batch: list[Message], moments: list[datetime]) -> None:
    counts.bump(conn, Counter((m.device_id, m.state, counts.day_of(t)) for m, t in zip(batch, moments, strict=True)))
    for message, moment in zip(batch, moments, strict=True):
        message.created_at = message.updated_at = moment
        message.states = {"Pending": moment}


# A message's recipients and its state history in one round trip: a row per recipient (kind 0, in recipient
# order), then a row per history entry (kind 1).
_IDS: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
_DETAILS_OF = sa.union_all(
    sa.select(sa.literal(0).label("kind"), message_recipients.c.id.label("seq"), message_recipients.c.message_id,
              message_recipients.c.phone_number, message_recipients.c.state, message_recipients.c.error,
              sa.type_coerce(sa.null(), Timestamp).label("updated_at"))
    .where(message_recipients.c.message_id.in_(_IDS)),
    sa.select(sa.literal(1), message_states.c.id, message_states.c.message_id, sa.null(), message_states.c.state,
              sa.null(), message_states.c.updated_at)
    .where(message_states.c.message_id.in_(_IDS)),
).order_by("kind", "seq")


def _load(conn: Connection, rows: list[Any]) -> list[Message]:
    ids = [row.id for row in rows]
    recipients: dict[int, list[Recipient]] = defaultdict(list)
    states: dict[int, dict[str, datetime]] = defaultdict(dict)
    if ids:
        for r in conn.execute(_DETAILS_OF, {"ids": ids}):
            if r.kind == 0:
                recipients[r.message_id].append(Recipient(r.phone_number, r.state, r.error))
            else:
                states[r.message_id][r.state] = r.updated_at
    return [
        Message(
            id=row.id, ext_id=row.ext_id, device_id=row.device_id, type=row.type, content=row.content,
            state=row.state, valid_until=row.valid_until, schedule_at=row.schedule_at, sim_number=row.sim_number,
            with_delivery_report=bool(row.with_delivery_report), priority=row.priority,
            is_hashed=bool(row.is_hashed), is_encrypted=bool(row.is_encrypted), created_at=row.created_at,
            updated_at=row.updated_at, recipients=recipients[row.id], states=states[row.id],
        )
        for row in rows
    ]


def _owned_by(user_id: Any) -> Any:
    return messages.c.device_id.in_(sa.select(devices.c.id).where(devices.c.user_id == user_id))


# Built once (see _INSERT_MESSAGE): the message by its id among the account's devices, a semi-join that reads
# the account's devices by user_id, then unq_messages_id_device (ext_id, device_id) once per device.
_FIND = sa.select(messages).where(messages.c.ext_id == sa.bindparam("ext_id"),
                                  _owned_by(sa.bindparam("user_id")))


def _find_for_user(conn: Connection, user_id: str, ext_id: str) -> list[Message]:
    rows = conn.execute(_FIND, {"ext_id": ext_id, "user_id": user_id}).all()
    return _load(conn, list(rows))


def _list(conn: Connection, query: MessageFilter) -> tuple[list[Message], int]:
    # The account's devices first: MariaDB ignores the (device_id, created_at) index behind IN (subquery) or
    # a JOIN and sorts the whole account instead.
    device_ids = counts.owned_devices(conn, query.user_id, query.device_id)
    total = counts.count(conn, device_ids, query.state, query.since, query.until)
    if not device_ids or query.offset >= total:
        return [], total
    until, offset = query.until, query.offset
    day: tuple[datetime, int] | None = None
    if query.newest_first and query.after is None and offset > 0 and query.since is None:
        until, offset, day = _skip_days(conn, device_ids, query.state, until, offset)
    if day is not None and _nearer_oldest(day[1], offset, query.limit):
        # The page lies in one day, nearer that day's oldest end: read from there (oldest first), so that at
        # most half a day's keys are passed over, and turn the page around.
        start, day_total = day
        oldest_first = dataclasses.replace(query, since=start, newest_first=False)
        page = _page(conn, device_ids, oldest_first, until, day_total - offset - query.limit)[::-1]
    else:
        page = _page(conn, device_ids, query, until, offset)
    rows = {row.id: row for row in conn.execute(sa.select(messages).where(messages.c.id.in_(page)))}
    return _load(conn, [rows[i] for i in page if i in rows]), total


def _nearer_oldest(day_total: int, offset: int, limit: int) -> bool:
    """Whether a page `offset` rows below the newest of a day of `day_total` rows lies whole in that day and
    has fewer rows below it than above."""
    return offset + limit <= day_total and day_total - offset - limit < offset


def _page(conn: Connection, device_ids: list[str], query: MessageFilter, until: datetime | None,
          offset: int) -> list[int]:
    """The ids of the page `offset` rows into the list, in the query's order.

    Each device's page is read from its own index in list order (no sort of its history), keys only; merged
    here (one device: the database skips the offset); the caller reads the page's rows by id."""
    if len(device_ids) == 1:
        return [key[1] for key in _keys(conn, device_ids[0], query, until, query.limit, offset)]
    keys = heapq.merge(*(_keys(conn, device_id, query, until, offset + query.limit) for device_id in device_ids),
                       reverse=query.newest_first)
    return [key[1] for key in itertools.islice(keys, offset, offset + query.limit)]


def _keys(conn: Connection, device_id: str, query: MessageFilter, until: datetime | None, limit: int,
          offset: int = 0) -> list[tuple[datetime, int]]:
    conditions: list[sa.ColumnElement[bool]] = [messages.c.device_id == device_id]
    if query.state:
        conditions.append(messages.c.state == query.state)
    if query.since is not None:
        conditions.append(messages.c.created_at >= query.since)
    if until is not None:
        conditions.append(messages.c.created_at < until)
    if query.after is not None:
        moment, last_id = query.after
        # The plain bound on created_at is what the index range starts from; the OR only sorts out equal times.
        if query.newest_first:
            conditions += [messages.c.created_at <= moment,
                           sa.or_(messages.c.created_at < moment, messages.c.id < last_id)]
        else:
            conditions += [messages.c.created_at >= moment,
                           sa.or_(messages.c.created_at > moment, messages.c.id > last_id)]
    order = ([messages.c.created_at.desc(), messages.c.id.desc()] if query.newest_first
             else [messages.c.created_at.asc(), messages.c.id.asc()])
    found = conn.execute(sa.select(messages.c.created_at, messages.c.id).where(*conditions)
                         .order_by(*order).limit(limit).offset(offset))
    return [(row.created_at, row.id) for row in found]


def _skip_days(conn: Connection, device_ids: list[str], state: str | None, until: datetime | None,
               offset: int) -> tuple[datetime | None, int, tuple[datetime, int] | None]:
    """A deep offset, newest first: whole days newer than the page are skipped by their counts, so the rows
    read are at most one day's plus the page. Returns the new upper bound, what remains of the offset, and
    the start and row count of the day the page starts in (when that day's count is known)."""
    conditions: list[sa.ColumnElement[bool]] = [message_counts.c.device_id.in_(device_ids)]
    if state:
        conditions.append(message_counts.c.state == state)
    if until is not None:
        conditions.append(message_counts.c.day < counts.day_of(until))  # `until`'s own day: counted on rows
    skipped, bound = 0, until
    per_day = conn.execute(sa.select(message_counts.c.day, sa.func.sum(message_counts.c.total))
                           .where(*conditions).group_by(message_counts.c.day)
                           .order_by(message_counts.c.day.desc())).all()
    if until is not None:  # rows of `until`'s own day come first and are not in the sums
        start = datetime.combine(counts.day_of(until), datetime.min.time())
        head = counts.count(conn, device_ids, state, start, until)
        if head > offset:
            return until, offset, None
        skipped, bound = head, start
    for on, total in per_day:
        total = int(total)
        start = datetime.combine(on if isinstance(on, date) else date.fromisoformat(str(on)), datetime.min.time())
        if skipped + total > offset:
            return bound, offset - skipped, (start, total)
        skipped += total
        bound = start
    return bound, offset - skipped, None


def _mark_cancelling(conn: Connection, user_id: str, ext_id: str) -> tuple[list[Message], bool]:
    condition = sa.and_(messages.c.ext_id == ext_id, _owned_by(user_id))
    found = conn.execute(sa.select(messages.c.id, messages.c.device_id, messages.c.created_at)
                         .where(condition)).all()
    moved = False
    if len(found) == 1:
        result = conn.execute(messages.update().where(messages.c.id == found[0].id, messages.c.state == "Pending")
                              .values(state="Cancelling", updated_at=now()))
        moved = bool(result.rowcount)
        if moved:  # the UPDATE matched on the current row (a locking read on MariaDB): the move is this one's
            deltas: Counter[counts.Key] = Counter()
            counts.moved(deltas, found[0].device_id, found[0].created_at, "Pending", "Cancelling")
            counts.bump(conn, deltas)
    return _load(conn, list(conn.execute(sa.select(messages).where(condition)).all())), moved


@functools.lru_cache(maxsize=32)  # built once per (state, order, limit, dialect): see _INSERT_MESSAGE
def _pending_query(state: str, fifo: bool, limit: int, dialect: str) -> Any:
    # NULL schedule_at first (as MySQL and SQLite sort them; PostgreSQL is told), then priority, then arrival
    # order: for LIFO exactly the index idx_messages_device_state_pull, so no pending row is sorted.
    schedule = messages.c.schedule_at.asc()
    return (
        sa.select(messages)
        .where(messages.c.device_id == sa.bindparam("device_id"), messages.c.state == state)
        .order_by(schedule.nulls_first() if dialect == "postgresql" else schedule, messages.c.priority.desc(),
                  messages.c.id.asc() if fifo else messages.c.id.desc())
        .limit(limit)
    )


def _pull_order(fifo: bool) -> Callable[[Any], tuple[Any, ...]]:
    return lambda row: (row.schedule_at is not None, row.schedule_at or datetime.min, -row.priority,
                        row.id if fifo else -row.id)


def _pending_for_device(conn: Connection, device_id: str, fifo: bool, limit: int) -> list[Message]:
    # One indexed query per state (an IN over two states would need a sort), merged in the same order.
    parts = [conn.execute(_pending_query(state, fifo, limit, conn.dialect.name), {"device_id": device_id}).all()
             for state in ("Pending", "Cancelling")]
    merged = list(itertools.islice(heapq.merge(*parts, key=_pull_order(fifo)), limit))
    return _load(conn, merged)


def hash_phone(phone: str) -> str:
    return hashlib.sha256(phone.encode()).hexdigest()[:16]


# The reported message and its stored history, in one statement: a row per history entry.
# Locked (FOR UPDATE) so the state read is the one replaced: the counts move from it.
_REPORTED = (
    sa.select(messages.c.id, messages.c.state, messages.c.is_hashed, messages.c.is_encrypted,
              messages.c.created_at, message_states.c.state.label("reached"))
    .select_from(messages.outerjoin(message_states, message_states.c.message_id == messages.c.id))
    .where(messages.c.device_id == sa.bindparam("device_id"), messages.c.ext_id == sa.bindparam("ext_id"))
    .with_for_update()
)
# PostgreSQL locks no row of an outer join's nullable side: it is told to lock the message row only (MariaDB
# knows no FOR UPDATE OF).
_REPORTED_PG = _REPORTED.with_for_update(of=messages)
_SET_STATE = (messages.update().where(messages.c.id == sa.bindparam("b_id"))
              .values(state=sa.bindparam("new_state"), updated_at=sa.bindparam("moment")))
_SET_RECIPIENT = (message_recipients.update()
                  .where(message_recipients.c.message_id == sa.bindparam("b_message_id"),
                         message_recipients.c.phone_number == sa.bindparam("phone"))
                  .values(state=sa.bindparam("new_state"), error=sa.bindparam("new_error")))


_RECIPIENT_PHONES = (sa.select(message_recipients.c.phone_number)
                     .where(message_recipients.c.message_id == sa.bindparam("message_id")))


def _reported_as(phone: str, is_encrypted: bool, is_hashed: bool) -> list[str]:
    """The stored forms a reported number may have, best first.

    Apps before 1.1.1 reported numbers without their plus, so upstream adds one; but a number sent with
    skipPhoneValidation is stored exactly as given (say `12345`), and the phone reports it so: that form comes
    first and wins when the message has such a recipient.
    """
    forms = [phone] if is_encrypted or phone.startswith("+") else [phone, "+" + phone]
    return [hash_phone(form) for form in forms] if is_hashed else forms


def _outdated(stored: set[str], report: StateReport) -> bool:
    """Whether the report is an older snapshot than one already applied (a retried PATCH that arrived late).

    The phone sends the message's whole first-reached history with each report, and that history only grows,
    so a report whose history is a strict subset of the stored one was overtaken; applying it would move the
    message back (say from Delivered to Processed) for good.
    """
    reported = set(report.states) - {"Pending"}
    if not reported:  # old apps send no history: nothing to compare
        return False
    return reported < stored - {"Pending"}


def _apply_reports(conn: Connection, device_id: str, reports: list[StateReport]) -> list[str]:
    known: list[str] = []
    deltas: Counter[counts.Key] = Counter()
    for report in reports:
        reported = _REPORTED_PG if conn.dialect.name == "postgresql" else _REPORTED
        rows = conn.execute(reported, {"device_id": device_id, "ext_id": report.ext_id}).all()
        if not rows:
            continue  # upstream ignores ids it does not know
        row = rows[0]
        known.append(report.ext_id)
        stored = {r.reached for r in rows if r.reached is not None}
        if _outdated(stored, report):
            continue
        # A report that repeats what is stored (the phone reports each state change with the whole message,
        # so a message that moved on quickly is reported several times alike) leaves the message row alone.
        if report.state != row.state or not set(report.states) <= stored:
            conn.execute(_SET_STATE, {"b_id": row.id, "new_state": report.state, "moment": now()})
            counts.moved(deltas, device_id, row.created_at, str(row.state), report.state)
        updates = []
        stored_phones: set[str] | None = None
        for recipient in report.recipients:
            candidates = _reported_as(recipient.phone_number, row.is_encrypted, row.is_hashed)
            if len(candidates) > 1 and stored_phones is None:
                stored_phones = set(conn.execute(_RECIPIENT_PHONES, {"message_id": row.id}).scalars())
            phone = next((c for c in candidates if stored_phones and c in stored_phones), candidates[-1])
            updates.append({"b_message_id": row.id, "phone": phone, "new_state": recipient.state,
                            "new_error": recipient.error})
        if updates:
            conn.execute(_SET_RECIPIENT, updates)
        fresh = [{"message_id": row.id, "state": state, "updated_at": at}
                 for state, at in report.states.items() if state not in stored]
        if fresh:
            # A state already stored keeps its first time: duplicates are skipped.
            conn.execute(insert_ignoring_duplicates(message_states, conn.dialect.name), fresh)
    counts.bump(conn, deltas)
    return known
