"""The Grafana dashboards and Prometheus rules under deploy/ use only metrics the server really exports."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import trio
import yaml
from conftest import Api

from reference_server.metrics import Metrics
from reference_server.tasks.periodic import PeriodicTask, run_periodic

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS_OWN = {"up"}  # set by Prometheus for each scrape target, not by the server
PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
IDENTIFIER = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", " ", expr)  # label matchers, ranges, strings
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    names = set()
    for name, call in IDENTIFIER.findall(expr):
        if not call and name.lower() not in PROMQL_WORDS and not re.fullmatch(r"\d.*", name):
            names.add(name)
    return names


def rules() -> list[dict[str, Any]]:
    found = []
    for path in (DEPLOY / "prometheus").glob("*.yml"):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            found += group["rules"]
    return found


def dashboard_exprs() -> list[str]:
    exprs = []
    for path in (DEPLOY / "grafana").glob("*.json"):
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            exprs += [target["expr"] for target in panel["targets"]]
    return exprs


def exported_names(exposition: str) -> set[str]:
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def test_the_name_extraction() -> None:
    expr = 'histogram_quantile(0.95, sum by (job, le) (rate(x_bucket{path!~".*/events"}[5m]))) > 1 and on (job) y'
    assert metric_names(expr) == {"x_bucket", "y"}


async def test_dashboards_and_rules_use_exported_metrics(sqlite_api: Api) -> None:
    user = await sqlite_api.register()
    sent = await sqlite_api.send(user, {"textMessage": {"text": "hi"}, "phoneNumbers": ["+79990001122"]})
    assert sent.status_code == 202, sent.text
    assert (await sqlite_api.client.get("/health/ready")).status_code == 200
    exposition = (await sqlite_api.client.get("/metrics")).text
    exported = exported_names(exposition)

    recorded = {rule["record"] for rule in rules() if "record" in rule}
    exprs = [rule["expr"] for rule in rules()] + dashboard_exprs()
    used = set().union(*map(metric_names, exprs))
    assert len(exprs) > 30 and {"http_requests_total", "sms_messages_total", "sms_task_runs_total"} <= used
    assert recorded <= used  # every recording rule is used by a dashboard or an alert
    missing = used - recorded - PROMETHEUS_OWN - exported
    assert not missing, f"not on /metrics: {sorted(missing)}"


class _Lease:
    def __init__(self, grants: list[bool]) -> None:
        self.grants = grants

    async def acquire_lease(self, *_: object) -> bool:
        return self.grants.pop(0) if self.grants else False


async def test_periodic_tasks_are_counted(autojump_clock: Any) -> None:
    metrics = Metrics()
    outcomes = iter([RuntimeError("boom"), 3])

    async def job() -> int:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    task = PeriodicTask("demo:job", timedelta(seconds=10), job)
    with trio.move_on_after(35):  # ticks at 0, 10, 20, 30: failed, ok, skipped, skipped
        await run_periodic(task, _Lease([True, True]), "me", first_delay=0, metrics=metrics)  # type: ignore[arg-type]
    value = metrics.registry.get_sample_value
    assert value("sms_task_runs_total", {"task": "demo:job", "result": "failed"}) == 1
    assert value("sms_task_runs_total", {"task": "demo:job", "result": "ok"}) == 1
    assert value("sms_task_runs_total", {"task": "demo:job", "result": "skipped"}) == 2
    assert value("sms_task_last_success_timestamp_seconds", {"task": "demo:job"}) > 1.7e9  # the wall clock's time
