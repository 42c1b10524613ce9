"""The output of `smsgate-server db copy`: a progress bar per table, then the count per table on both sides."""

from __future__ import annotations

import argparse
import logging
import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from .storage.copy import DEFAULT_BATCH, EPHEMERAL, CopyError, CopyResult, copy_database


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    copy = commands.add_parser(
        "copy", help="copy a whole deployment from one database to another",
        description="Copy every table of a deployment (accounts, devices, messages, webhooks, settings, tokens, "
                    "CA requests, inbox) from --from to --to, keeping ids, timestamps and credential hashes. "
                    "The target is upgraded first; it must be empty unless --force, or hold an interrupted "
                    "copy of the same source (then the copy resumes).")
    copy.add_argument("--from", dest="source", required=True, metavar="URL",
                      help="database to copy from, e.g. sqlite:///smsgate.db (must be at the current revision)")
    copy.add_argument("--to", dest="target", required=True, metavar="URL",
                      help="database to copy into, e.g. postgresql+psycopg://user:pass@host/smsgate")
    copy.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, metavar="N",
                      help=f"rows per read and per target transaction (default {DEFAULT_BATCH})")
    copy.add_argument("--force", action="store_true",
                      help="delete whatever the target holds before copying")


class RowsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "", style="progress.data.speed")


class RichProgress:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def table(self, name: str, total: int, done: int) -> None:
        self.tasks[name] = self.progress.add_task(name, total=max(total, done), completed=done)

    def advance(self, name: str, rows: int) -> None:
        self.progress.advance(self.tasks[name], rows)


def run(args: argparse.Namespace) -> int:
    """0: an exact copy; 1: the final counts differ, or a database failed half-way; 2: bad input or a target we
    refuse."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the target's migration says enough in one line
    console = Console(stderr=True)
    columns = (TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), RowsPerSecond(),
               TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            result = copy_database(
                args.source, args.target, batch_size=args.batch_size, force=args.force,
                progress=RichProgress(progress),
                on_resume=lambda: progress.console.print(
                    "[bold]resuming[/bold] an interrupted copy: tables continue after the rows the target holds"))
    except CopyError as exc:
        print(f"db copy: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("db copy: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return report(console, result)


def report(console: Console, result: CopyResult) -> int:
    table = Table(title="rows per table")
    for heading in ("table", "source", "target", ""):
        table.add_column(heading, justify="left" if heading == "table" else "right")
    for count in result.counts:
        table.add_row(count.name, str(count.source), str(count.target), "ok" if count.matches else "DIFFERS")
    for name in EPHEMERAL:
        table.add_row(name, "-", "-", "not copied")
    console.print(table)
    if not result.matches:
        differ = ", ".join(count.name for count in result.counts if not count.matches)
        print(f"db copy: the counts differ in {differ}: was the source written to during the copy? "
              "Stop its server and run the copy again with --force", file=sys.stderr)
        return 1
    print("db copy: done" + (" (resumed)" if result.resumed else "") + "; every table's count matches")
    return 0
