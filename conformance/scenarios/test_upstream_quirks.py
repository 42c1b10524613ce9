"""Upstream behaviours a careful user of the Go server relies on (each check names the capability it belongs to)."""

from __future__ import annotations

import pytest

from conformance.harness import PHONE, Suite, describe, expect


@pytest.mark.capability("lifecycle")
async def test_a_report_with_an_unknown_state_keeps_the_others(suite: Suite) -> None:
    """Upstream answers 204 and applies the other items: one odd field never loses a phone's report."""
    account = await suite.account()
    odd, good = await suite.text(account, "odd"), await suite.text(account, "good")
    recipients = [{"phoneNumber": PHONE, "state": "Sent"}]
    response = await suite.device(account).request("PATCH", "/message", json=[
        {"id": odd, "state": "Teleported", "recipients": recipients},
        {"id": good, "state": "Sent", "recipients": recipients}])
    expect(response, 204)
    assert (await suite.message(account, good))["state"] == "Sent", "the valid item of the batch was not applied"


@pytest.mark.capability("errors")
async def test_answers_carry_the_request_id(suite: Suite) -> None:
    """Upstream's answers, errors included, carry X-Request-ID, echoing the client's."""
    echoed = await suite.http.get(suite.target.thirdparty + "/messages", headers={"X-Request-ID": "conformance-1"})
    assert echoed.headers.get("X-Request-ID") == "conformance-1", f"X-Request-ID not echoed: {describe(echoed)}"
    made = await suite.http.get(suite.target.thirdparty + "/messages")
    assert made.headers.get("X-Request-ID"), f"no X-Request-ID: {describe(made)}"


@pytest.mark.capability("send")
async def test_body_keys_match_in_any_letter_case(suite: Suite) -> None:
    """Go's decoder matches `PhoneNumbers` to `phoneNumbers`: upstream accepts such a message."""
    account = await suite.account()
    response = await suite.user(account).post("/messages", json={"TextMessage": {"Text": "any case"},
                                                                 "PhoneNumbers": [PHONE]})
    expect(response, 202)


@pytest.mark.capability("health")
@pytest.mark.should
async def test_probes_carry_upstreams_check_set(suite: Suite) -> None:
    """Upstream's liveness reports `system:goroutines` and `system:memory`, readiness `db:ping`; values are integers."""
    live = (await suite.http.get(suite.target.root + "/health/live")).json()
    checks = live.get("checks", {})
    assert {"system:goroutines", "system:memory"} <= set(checks), f"liveness checks: {sorted(checks)}"
    assert checks["system:memory"].get("observedUnit") == "MiB", checks["system:memory"]
    assert all(isinstance(c.get("observedValue"), int) for c in checks.values()), f"observedValue: {checks}"
    ready = (await suite.http.get(suite.target.root + "/health/ready")).json()
    assert "db:ping" in ready.get("checks", {}), f"readiness checks: {sorted(ready.get('checks', {}))}"
    assert ready["checks"]["db:ping"].get("observedUnit") == "failed pings", ready["checks"]["db:ping"]


# Families upstream's gateway exports from its start (promauto, no labels), with their types.
UNLABELLED_FAMILIES = {
    "sms_online_cache_latency_seconds": "histogram", "sms_online_persistence_latency_seconds": "histogram",
    "sms_online_persistence_errors_total": "counter", "sms_online_batch_size": "gauge",
    "sms_messages_cache_hits_total": "counter", "sms_messages_cache_misses_total": "counter",
    "sms_messages_limiter_refreshes_total": "counter", "sms_messages_limiter_batch_size": "gauge",
}


def metric_types(exposition: str) -> dict[str, str]:
    types = {}
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            types[name] = kind
    return types


def exported(exposition: str, name: str, kind: str) -> bool:
    """A family is exported under its name (a client library may declare a counter without `_total`)."""
    types = metric_types(exposition)
    return types.get(name) == kind or (kind == "counter" and types.get(name.removesuffix("_total")) == kind)


@pytest.mark.capability("health")
@pytest.mark.should
async def test_metrics_carry_upstreams_module_families(suite: Suite) -> None:
    """/metrics (no credentials, at the root as upstream) exports the online, message cache and limiter families,
    and a device's request counts as an online status set."""
    account = await suite.account()
    expect(await suite.device(account).get("/message"), 200)
    response = await suite.http.get(suite.target.root + "/metrics")
    expect(response, 200)
    text = response.text
    missing = [name for name, kind in UNLABELLED_FAMILIES.items() if not exported(text, name, kind)]
    assert not missing, f"families missing or of another type: {missing}"
    counted = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith('sms_online_status_set_total{status="success"}')]
    assert counted and counted[0] >= 1, f"a device request was not counted as an online status set: {counted}"
