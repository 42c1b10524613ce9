"""Load shapes as k6 writes them: `30s:100,2m:100,30s:0` ramps a target linearly from the previous one
(0 at the start) to each stage's value over the stage's duration.

Used for the phones online (`--stages`) and for the message rate (`--rate-stages`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """`1h2m3s`, `90s`, `2m`, `500ms`, or bare seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"bad duration {text!r}: want e.g. 30s, 2m, 1m30s")
    return sum(float(number) * UNITS[unit] for number, unit in parts)


@dataclass(frozen=True)
class Stages:
    stages: tuple[tuple[float, float], ...]  # (duration seconds, target at its end)

    @classmethod
    def parse(cls, text: str) -> Stages:
        stages = []
        for item in text.split(","):
            duration, sep, target = item.partition(":")
            if not sep:
                raise ValueError(f"bad stage {item!r}: want DURATION:TARGET, e.g. 30s:100")
            value = float(target)
            if value < 0 or not math.isfinite(value):
                raise ValueError(f"bad stage {item!r}: the target must not be negative")
            stages.append((parse_duration(duration), value))
        if not stages:
            raise ValueError("no stage given")
        return cls(tuple(stages))

    def __str__(self) -> str:
        return ",".join(f"{duration:g}s:{target:g}" for duration, target in self.stages)

    @property
    def duration(self) -> float:
        return sum(duration for duration, _ in self.stages)

    @property
    def peak(self) -> float:
        return max(target for _, target in self.stages)

    def scaled(self, factor: float) -> Stages:
        return Stages(tuple((duration, target * factor) for duration, target in self.stages))

    def target(self, t: float) -> float:
        """The target `t` seconds after the start (the last stage's after the end)."""
        start, previous = 0.0, 0.0
        for duration, value in self.stages:
            if t < start + duration:
                return previous + (value - previous) * (t - start) / duration
            start, previous = start + duration, value
        return previous

    def due_times(self) -> Iterator[float]:
        """Seconds from the start at which each event is due when the target is a rate per second.

        Event k (0-based) is due when the integral of the rate reaches k, so a constant rate r sends at
        0, 1/r, 2/r, ... as the steady driver does.
        """
        start, previous, done = 0.0, 0.0, 0.0  # stage start, rate there, events due before it
        k = 0
        for duration, value in self.stages:
            slope = (value - previous) / duration if duration else 0.0
            total = done + (previous + value) / 2 * duration
            while k < total - 1e-9:
                x = k - done  # events into this stage
                if abs(slope) < 1e-12:
                    offset = x / previous
                else:
                    offset = (-previous + math.sqrt(max(0.0, previous * previous + 2 * slope * x))) / slope
                yield start + offset
                k += 1
            start, previous, done = start + duration, value, total
