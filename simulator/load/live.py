"""Live figures while a run goes on: a rich table redrawn each second on a terminal, else a line every 5 s."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import trio
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..report.stats import percentile
from .tracker import Tracker

LINE_EVERY = 5.0  # seconds between progress lines when stdout is not a terminal


class LiveStats:
    def __init__(self, tracker: Tracker, planned_phones: int, console: Console,
                 header: list[str] | None = None, live: bool | None = None) -> None:
        self.tracker = tracker
        self.planned = planned_phones
        self.console = console
        self.header = header or []
        self.live = console.is_terminal if live is None else live
        self.phase = "ramp"
        self.failed_phones: Callable[[], int] = lambda: 0
        self._last_accepted = 0
        self._rate = 0.0

    def figures(self) -> dict[str, Any]:
        tracker = self.tracker
        recent = tracker.recent_latencies()
        return {
            "elapsed": time.time() - tracker.started_at,
            "online": len(tracker.online), "registered": len(tracker.registered_devices),
            "accepted": tracker.accepted, "sent": len(tracker.messages), "rate": self._rate,
            "in_flight": tracker.in_flight(),
            "states": {s: tracker.state_counts[s] for s in ("Processed", "Sent", "Delivered", "Failed")},
            "p50": percentile(recent, 50), "p95": percentile(recent, 95), "p99": percentile(recent, 99),
            "errors": dict(tracker.errors),
        }

    def _tick(self, seconds: float) -> None:
        self.tracker.sample()
        accepted = self.tracker.accepted
        self._rate = (accepted - self._last_accepted) / seconds
        self._last_accepted = accepted

    @staticmethod
    def _ms(value: float | None) -> str:
        return "–" if value is None else f"{value * 1000:,.0f} ms"

    def table(self) -> Group:
        f = self.figures()
        table = Table(show_header=False, box=None, padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        table.add_row("phase", f"{self.phase}  ({f['elapsed']:.0f} s)")
        table.add_row("phones", f"{f['online']} online, {f['registered']} registered of {self.planned}"
                      + (f", {self.failed_phones()} failed" if self.failed_phones() else ""))
        table.add_row("messages", f"{f['sent']} sent, {f['accepted']} accepted, {f['rate']:.1f} msg/s, "
                      f"{f['in_flight']} in flight")
        table.add_row("states", "  ".join(f"{k} {v}" for k, v in f["states"].items()))
        table.add_row("send → final", f"p50 {self._ms(f['p50'])}  p95 {self._ms(f['p95'])}  "
                      f"p99 {self._ms(f['p99'])}  (last 10 s)")
        errors = f["errors"]
        table.add_row("errors", ", ".join(f"{k} {v}" for k, v in sorted(errors.items())) if errors else "none",
                      style="red" if errors else None)
        return Group(*[Text(line, no_wrap=True, overflow="ignore") for line in self.header], table)

    def line(self) -> str:
        f = self.figures()
        states = " ".join(f"{k[:4]}={v}" for k, v in f["states"].items())
        errors = sum(f["errors"].values())
        return (f"[{f['elapsed']:5.0f}s {self.phase}] phones {f['online']}/{self.planned} online  "
                f"sent {f['sent']} acc {f['accepted']} ({f['rate']:.1f}/s) in-flight {f['in_flight']}  {states}  "
                f"p50/p95/p99 {self._ms(f['p50'])}/{self._ms(f['p95'])}/{self._ms(f['p99'])}  errors {errors}")

    async def run(self) -> None:
        """Until cancelled."""
        if not self.live:
            for line in self.header:
                self.console.print(line, highlight=False, markup=False)
            ticks = 0
            while True:
                await trio.sleep(1)
                self._tick(1)
                ticks += 1
                if ticks % int(LINE_EVERY) == 0:
                    self.console.print(self.line(), highlight=False, markup=False, soft_wrap=True)
        with Live(self.table(), console=self.console, auto_refresh=False, transient=False) as live:
            try:
                while True:
                    await trio.sleep(1)
                    self._tick(1)
                    live.update(self.table(), refresh=True)
            finally:
                live.update(self.table(), refresh=True)
