"""Upstream's metric families beyond HTTP (online, message cache, limiter, JWT timing, worker executor) and its
health check set, scraped over HTTP after each path ran (issue #16)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import Api, make_settings, open_api
from prometheus_client.parser import text_string_to_metric_families

from reference_server.tasks.periodic import PeriodicTask, execute

SECRET = "s3cret-s3cret-s3cret-s3cret-s3cret!"
TEXT = {"textMessage": {"text": "hello"}, "phoneNumbers": ["+79990001122"]}
JWT_BUCKETS = [.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1]
MEMORY_BUCKETS = [1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, .001, .005, .01, .05, .1]
DATABASE_BUCKETS = [.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10]
WORKER_BUCKETS = [.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 25]

# name -> (type, label names, buckets for histograms), as upstream's Go declares them.
EXPECTED: dict[str, tuple[str, set[str], list[float] | None]] = {
    "sms_online_status_set": ("counter", {"status"}, None),
    "sms_online_cache_operations": ("counter", {"operation", "status"}, None),
    "sms_online_cache_latency_seconds": ("histogram", set(), MEMORY_BUCKETS),
    "sms_online_persistence_latency_seconds": ("histogram", set(), DATABASE_BUCKETS),
    "sms_online_persistence_errors": ("counter", set(), None),
    "sms_online_batch_size": ("gauge", set(), None),
    "sms_messages_cache_hits": ("counter", set(), None),
    "sms_messages_cache_misses": ("counter", set(), None),
    "sms_messages_limiter_checks": ("counter", {"result"}, None),
    "sms_messages_limiter_refreshes": ("counter", set(), None),
    "sms_messages_limiter_batch_size": ("gauge", set(), None),
    "sms_auth_jwt_issuance_duration_seconds": ("histogram", set(), JWT_BUCKETS),
    "sms_auth_jwt_validation_duration_seconds": ("histogram", set(), JWT_BUCKETS),
    "sms_auth_jwt_revocation_duration_seconds": ("histogram", set(), JWT_BUCKETS),
    "sms_auth_jwt_refresh_duration_seconds": ("histogram", set(), JWT_BUCKETS),
    "sms_auth_jwt_tokens_validated": ("counter", {"status"}, None),
    "sms_sse_event_delivery_latency_seconds": ("histogram", set(), MEMORY_BUCKETS),
    "worker_executor_active_tasks": ("gauge", set(), None),
    "worker_executor_task_result": ("counter", {"task", "result"}, None),
    "worker_executor_task_duration_seconds": ("histogram", {"task"}, WORKER_BUCKETS),
}


def scrape(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(family: Any, suffix: str = "", **labels: str) -> float:
    matching = [s.value for s in family.samples if s.name == family.name + suffix
                and all(s.labels.get(k) == v for k, v in labels.items())]
    assert matching, f"no sample {family.name}{suffix} {labels}"
    return float(sum(matching))


async def test_upstream_families_after_each_path(tmp_path: Any, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, JWT__SECRET=SECRET, MESSAGES__QUEUE__MAX_PENDING="100")
    async for api in open_api(settings):
        user = await api.register()
        auth = (user["login"], user["password"])
        phone = {"Authorization": f"Bearer {user['token']}"}
        assert (await api.client.get("/api/mobile/v1/message", headers=phone)).status_code == 200  # online mark
        sent = await api.send(user, TEXT)
        assert sent.status_code == 202, sent.text
        assert (await api.client.get(f"/api/3rdparty/v1/messages/{sent.json()['id']}", auth=auth)).status_code == 200
        issued = (await api.client.post("/api/3rdparty/v1/auth/token", json={"scopes": ["devices:list"]},
                                        auth=auth)).json()
        listed = await api.client.get("/api/3rdparty/v1/devices",
                                      headers={"Authorization": f"Bearer {issued['access_token']}"})
        assert listed.status_code == 200
        refreshed = await api.client.post("/api/3rdparty/v1/auth/token/refresh",
                                          headers={"Authorization": f"Bearer {issued['refresh_token']}"})
        assert refreshed.status_code == 201, refreshed.text
        revoked = await api.client.delete(f"/api/3rdparty/v1/auth/token/{refreshed.json()['id']}", auth=auth)
        assert revoked.status_code == 204, revoked.text
        assert await api.services.online.flush() == 1
        assert await execute(PeriodicTask("tokens:cleanup", timedelta(hours=1), lambda: _rows(2)),
                             api.services.metrics) == 2

        families = scrape((await api.client.get("/metrics")).text)
        for name, (kind, labels, buckets) in EXPECTED.items():
            assert name in families, f"{name} not exported"
            family = families[name]
            assert family.type == kind, (name, family.type)
            seen = {key for s in family.samples for key in s.labels if key != "le"}
            assert seen == labels or not family.samples and not labels, (name, seen)
            if buckets is not None and family.samples:
                bounds = sorted({float(s.labels["le"]) for s in family.samples if s.name.endswith("_bucket")})
                assert bounds == sorted([*buckets, float("inf")]), (name, bounds)
        assert value(families["sms_online_status_set"], "_total", status="success") >= 1
        assert value(families["sms_online_cache_operations"], "_total", operation="drain", status="success") == 1
        assert value(families["sms_online_batch_size"]) == 1
        assert value(families["sms_online_persistence_latency_seconds"], "_count") == 1
        assert value(families["sms_messages_cache_misses"], "_total") == 1
        assert value(families["sms_messages_limiter_checks"], "_total", result="allowed") == 1
        assert value(families["sms_messages_limiter_refreshes"], "_total") == 1
        for operation in ("issuance", "validation", "refresh", "revocation"):
            assert value(families[f"sms_auth_jwt_{operation}_duration_seconds"], "_count") >= 1, operation
        assert value(families["sms_auth_jwt_tokens_validated"], "_total", status="success") >= 1
        assert value(families["worker_executor_task_result"], "_total", task="tokens:cleanup", result="success") == 1
        assert value(families["worker_executor_task_duration_seconds"], "_count", task="tokens:cleanup") == 1
        assert value(families["worker_executor_active_tasks"]) == 0


async def test_a_bad_jwt_counts_as_an_error(sqlite_api: Api, tmp_path: Any, sqlite_url: str) -> None:
    async for api in open_api(make_settings(tmp_path, sqlite_url, JWT__SECRET=SECRET)):
        refused = await api.client.get("/api/3rdparty/v1/devices", headers={"Authorization": "Bearer not.a.jwt"})
        assert refused.status_code == 401
        families = scrape((await api.client.get("/metrics")).text)
        assert value(families["sms_auth_jwt_tokens_validated"], "_total", status="error") == 1
        assert value(families["sms_auth_jwt_validation_duration_seconds"], "_count") == 1


async def _rows(count: int) -> int:
    return count


async def test_health_has_upstreams_check_set(tmp_path: Any, sqlite_url: str) -> None:
    async for api in open_api(make_settings(tmp_path, sqlite_url, HEALTH__RELEASE_ID="4711")):
        live = (await api.client.get("/health/live")).json()
        assert set(live["checks"]) == {"system:goroutines", "system:memory"}
        assert live["releaseId"] == 4711 and live["version"]
        for check in live["checks"].values():
            assert set(check) == {"description", "observedUnit", "observedValue", "status"}
            assert isinstance(check["observedValue"], int) and check["observedValue"] > 0
        assert live["checks"]["system:memory"]["observedUnit"] == "MiB"
        ready = (await api.client.get("/health/ready")).json()
        assert set(ready["checks"]) == {"db:ping"} and ready["checks"]["db:ping"]["observedValue"] == 0
        assert "checks" not in (await api.client.get("/health/startup")).json()


async def test_release_id_left_out_when_unset(sqlite_api: Api) -> None:
    answer = (await sqlite_api.client.get("/api/3rdparty/v1/health")).json()
    assert "releaseId" not in answer and answer["status"] == "pass"
