"""Group commit: units of work that arrive while a transaction runs share the next one.

A request's database work is a *unit*: `fn(connection, *args)`. Units queued by concurrent requests run
together, in one worker-thread hop and one transaction, and each caller gets its result once that transaction
committed. The batch is optimistic: its units run without savepoints (a savepoint costs SQLAlchemy more than a
short unit does), and when one raises, the whole batch is rolled back and every unit runs again alone, in
order, in a transaction of its own; so each unit's outcome (a duplicate id, a lost connection) is what it would
have been without batching, and one unit's error never fails another. A lone unit simply runs alone. A failed
BEGIN or COMMIT fails every unit of the batch (whether a COMMIT took effect is unknown: nothing is retried).

A unit may name a `many` form, `many(connection, [args, ...]) -> [result, ...]`: the units of a batch that name
the same one run through it in one call (a multi-row INSERT for all of them instead of one per unit), at the
place of the first of them. It raises like a unit: the batch is rolled back and every unit runs alone, as `fn`.

A queued unit is dropped when its caller is cancelled. Once its batch has started it runs to the end; a caller
without a request deadline waits for it, as `trio.to_thread.run_sync` does, while a request whose deadline
expired leaves at once: its unit is skipped if not started yet, and a batch holding it is refused its COMMIT
(see `deadline`), rolled back, and its other units run again alone. The worker thread wakes the callers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import outcome
import sqlalchemy as sa
import trio
from sqlalchemy.engine import Connection, Engine

from . import deadline as deadlines

Transaction = Callable[[Callable[..., Any], tuple[Any, ...], deadlines.Deadline | None], Any]  # Database._transaction
Many = Callable[[Connection, list[tuple[Any, ...]]], list[Any]]  # several units' work in one call
MapError = Callable[[Exception], Exception]  # what a caller sees of a failed BEGIN or COMMIT (Database._mapped)


def statement_error(exc: sa.exc.OperationalError) -> bool:
    """MySQL reports some data errors (e.g. "Incorrect string value") as OperationalError."""
    code = getattr(exc.orig, "args", [None])[0]
    return isinstance(code, int) and code in {1366, 1406, 1292}


class Unit:
    __slots__ = ("fn", "args", "many", "deadline", "taken", "wrote", "result", "finished")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], many: Many | None = None) -> None:
        self.fn = fn
        self.args = args
        self.many = many
        self.deadline = deadlines.current.get()
        self.taken = False
        self.wrote = False
        self.result: outcome.Outcome[Any] | None = None
        self.finished = trio.Event()


class _UnitFailed(Exception):
    """A unit raised inside a batch: the batch is rolled back and its units run alone."""


class Batcher:
    def __init__(self, engine: Engine, limiter: trio.CapacityLimiter, alone: Transaction, map_error: MapError,
                 max_units: int = 64, concurrency: int = 1) -> None:
        self.engine = engine
        self.limiter = limiter
        self.alone = alone  # runs one unit in its own transaction, mapping errors as Database.run does
        self.map_error = map_error
        self.max_units = max_units
        self._queue: deque[Unit] = deque()
        self._leaders = trio.Semaphore(concurrency)
        self.batches = 0  # transactions run by batches of several units
        self.retried = 0  # batches rolled back because a unit raised
        self.grouped = 0  # units run through a `many` form with others

    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...], many: Many | None = None) -> Any:
        unit = Unit(fn, args, many)
        self._queue.append(unit)
        try:
            async with self._leaders:
                while not unit.taken:
                    await self._run_batch()
        except trio.Cancelled:
            if not unit.taken:
                self._queue.remove(unit)
                raise
            if unit.deadline is not None:
                raise  # the request's deadline: its unit will not commit (deadline.Deadline.expire)
        with trio.CancelScope(shield=unit.deadline is None):
            await unit.finished.wait()
        assert unit.result is not None
        return unit.result.unwrap()

    async def _run_batch(self) -> None:
        units: list[Unit] = []
        while self._queue and len(units) < self.max_units:
            unit = self._queue.popleft()
            unit.taken = True
            units.append(unit)
        # the units are taken: they run whatever happens to this caller, and the thread wakes their callers
        await trio.to_thread.run_sync(self._execute, units, trio.lowlevel.current_trio_token(),
                                      limiter=self.limiter, abandon_on_cancel=True)

    def _execute(self, units: list[Unit], token: trio.lowlevel.TrioToken) -> None:
        try:
            self._execute_units(units)
        finally:
            try:
                token.run_sync_soon(_wake, units)
            except trio.RunFinishedError:
                pass

    def _execute_units(self, units: list[Unit]) -> None:
        units = self._unexpired(units)
        if len(units) > 1:
            try:
                with self.engine.begin() as conn:
                    results = self._units(conn, units)
                    deadlines.commit(conn, [unit.deadline for unit in units], [unit.wrote for unit in units],
                                     unknown_on_failure=self.engine.dialect.name != "sqlite")
            except (_UnitFailed, deadlines.RequestExpired):
                self.retried += 1  # rolled back: every unit runs alone below, in order
            except deadlines.CommitUnknown as exc:
                for unit in units:
                    unit.result = outcome.Error(exc)
                return
            except Exception as exc:  # noqa: BLE001 - BEGIN or COMMIT failed: every unit fails with it
                error = self.map_error(exc)
                for unit in units:
                    unit.result = outcome.Error(error)
                return
            else:
                self.batches += 1
                for unit, result in zip(units, results, strict=True):
                    unit.result = outcome.Value(result)
                return
        for unit in self._unexpired(units):
            unit.result = outcome.capture(self.alone, unit.fn, unit.args, unit.deadline)

    @staticmethod
    def _unexpired(units: list[Unit]) -> list[Unit]:
        """The units still worth running; the others' requests answered 503 already."""
        for unit in units:
            if unit.deadline is not None and unit.deadline.expired:
                unit.result = outcome.Error(deadlines.RequestExpired())
        return [unit for unit in units if unit.result is None]

    def _units(self, conn: Connection, units: list[Unit]) -> list[Any]:
        """Runs a batch's units in order; those of one `many` form together, where the first of them stands."""
        groups: dict[Many, list[int]] = {}
        for index, unit in enumerate(units):
            if unit.many is not None:
                groups.setdefault(unit.many, []).append(index)
        results: list[Any] = [None] * len(units)
        for index, unit in enumerate(units):
            if unit.many is None or len(groups.get(unit.many, ())) == 1:
                results[index] = self._unit(conn, unit)
            elif unit.many in groups:  # the first of its group: the whole group runs here
                members = groups.pop(unit.many)
                self._many(conn, unit.many, [units[i] for i in members], members, results)
        return results

    def _many(self, conn: Connection, many: Many, units: list[Unit], indexes: list[int], results: list[Any]) -> None:
        deadlines.wrote(conn)
        try:
            found = list(many(conn, [unit.args for unit in units]))
            if len(found) != len(units):
                raise ValueError(f"{len(units)} units, {len(found)} results")
        except Exception as exc:
            raise _UnitFailed() from exc
        wrote = deadlines.wrote(conn)
        self.grouped += len(units)
        for index, unit, result in zip(indexes, units, found, strict=True):
            unit.wrote = wrote
            results[index] = result

    @staticmethod
    def _unit(conn: Connection, unit: Unit) -> Any:
        deadlines.wrote(conn)
        try:
            result = unit.fn(conn, *unit.args)
        except Exception as exc:
            raise _UnitFailed() from exc
        unit.wrote = deadlines.wrote(conn)
        return result


def _wake(units: list[Unit]) -> None:
    for unit in units:
        unit.finished.set()
