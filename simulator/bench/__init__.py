"""`smsgate-sim bench` / `nox -s bench`: how fast a server and the simulator are, each figure beside its ceiling
measured in the same run, so that the ratios hold on a busy or small machine.

Public surface: BenchConfig, run_bench, main (imported lazily: the bench's child processes, such as the load
generator, import only what they use).
"""

from __future__ import annotations

from typing import Any

__all__ = ["BenchConfig", "main", "run_bench"]


def __getattr__(name: str) -> Any:
    if name == "BenchConfig":
        from .config import BenchConfig

        return BenchConfig
    if name in ("main", "run_bench"):
        from . import run

        return getattr(run, name)
    raise AttributeError(name)
