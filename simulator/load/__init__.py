"""Load runs: a fleet of simulated phones, a traffic driver, live figures and the report.

Public surface: RunConfig, Shard, RunHooks, run_load, summary_lines, LocalServer.
"""

from .config import RunConfig, Shard
from .localserver import LocalServer
from .runner import RunHooks, run_load
from .summary import summary_lines

__all__ = ["LocalServer", "RunConfig", "RunHooks", "Shard", "run_load", "summary_lines"]
