"""Background work: task leases, hashing, cleanup, the online tracker, queue limits, message metrics."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import pytest
import trio
import trio.testing
from conftest import Api, make_settings, open_api

from reference_server.domain.clock import now
from reference_server.storage.database import Database
from reference_server.storage.maintenance import MaintenanceRepository
from reference_server.storage.migrate import upgrade
from reference_server.tasks.periodic import PeriodicTask, run_periodic

TEXT = {"textMessage": {"text": "secret text"}, "phoneNumbers": ["+79990001122"]}


@pytest.fixture
async def maintenance(database_url: str) -> Any:
    db = Database(database_url, pool_size=4)
    await trio.to_thread.run_sync(upgrade, db.engine)
    yield MaintenanceRepository(db)
    db.dispose()


async def test_a_lease_has_one_holder_until_it_expires(maintenance: MaintenanceRepository) -> None:
    t0 = datetime(2030, 1, 1)
    assert await maintenance.acquire_lease("job", "a", t0, t0 + timedelta(seconds=10))
    assert not await maintenance.acquire_lease("job", "b", t0 + timedelta(seconds=5), t0 + timedelta(seconds=15))
    assert await maintenance.acquire_lease("job", "a", t0 + timedelta(seconds=9), t0 + timedelta(seconds=19))
    assert not await maintenance.acquire_lease("job", "b", t0 + timedelta(seconds=18), t0 + timedelta(seconds=28))
    assert await maintenance.acquire_lease("job", "b", t0 + timedelta(seconds=20), t0 + timedelta(seconds=30))
    assert await maintenance.acquire_lease("other-job", "a", t0, t0 + timedelta(seconds=10))


async def _two_processes(maintenance: MaintenanceRepository, names: tuple[str, str],
                         clock_: trio.testing.MockClock) -> list[tuple[str, float, float]]:
    """Runs one task in two 'processes' for 100 s of mock time; returns (owner, start, end) of each run."""
    # Open the pool's connections first, then let the clock jump only after 100 ms of real idleness,
    # so that database calls in worker threads finish before mock time moves on.
    async with trio.open_nursery() as warmup:
        for owner in ("a", "b"):
            warmup.start_soon(maintenance.acquire_lease, f"warmup-{owner}", owner, datetime(2000, 1, 1),
                              datetime(2000, 1, 1))
    clock_.autojump_threshold = 0.1
    runs: list[tuple[str, float, float]] = []
    base = datetime(2030, 1, 1)

    def clock() -> datetime:
        return base + timedelta(seconds=trio.current_time())

    def job_for(owner: str) -> Any:
        async def job() -> int:
            started = trio.current_time()
            await trio.sleep(2)  # the work takes a while
            runs.append((owner, started, trio.current_time()))
            return 0
        return job

    with trio.move_on_after(100):
        async with trio.open_nursery() as nursery:
            for owner, name, delay in (("a", names[0], 0.0), ("b", names[1], 3.0)):
                task = PeriodicTask(name, timedelta(seconds=10), job_for(owner))
                nursery.start_soon(run_periodic, task, maintenance, owner, delay, clock)
    return sorted(runs, key=lambda run: run[1])


async def test_two_processes_never_run_a_task_at_once(maintenance: MaintenanceRepository,
                                                      mock_clock: trio.testing.MockClock) -> None:
    runs = await _two_processes(maintenance, ("messages:cleanup", "messages:cleanup"), mock_clock)
    assert 8 <= len(runs) <= 11  # once per interval across both, not once per process
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert later[1] >= earlier[2], f"overlap: {earlier} and {later}"


async def test_without_a_shared_lease_both_would_run(maintenance: MaintenanceRepository,
                                                     mock_clock: trio.testing.MockClock) -> None:
    # The control for the test above: with different lease names, each process runs every interval.
    runs = await _two_processes(maintenance, ("job-a", "job-b"), mock_clock)
    assert len(runs) >= 18
    assert {owner for owner, _, _ in runs} == {"a", "b"}


async def _delivered(api: Api, user: dict[str, Any], body: dict[str, Any]) -> str:
    sent = await api.send(user, {**body, "deviceId": user["id"]})  # the device that will report it
    assert sent.status_code == 202, sent.text
    message = sent.json()
    report = [{"id": message["id"], "state": "Delivered",
               "recipients": [{"phoneNumber": r["phoneNumber"], "state": "Delivered"} for r in message["recipients"]],
               "states": {"Delivered": "2030-01-01T00:00:00.000Z"}}]
    patched = await api.client.patch("/api/mobile/v1/message", json=report,
                                     headers={"Authorization": f"Bearer {user['token']}"})
    assert patched.status_code == 204
    return str(message["id"])


async def test_hashing_replaces_content_and_numbers(api: Api) -> None:
    user = await api.register()
    done = await _delivered(api, user, TEXT)
    pending = (await api.send(user, TEXT)).json()["id"]
    encrypted = await _delivered(api, user, {**TEXT, "isEncrypted": True, "phoneNumbers": ["$aes-256-cbc$x"]})
    assert await api.services.maintenance.hash_messages() == 1

    auth = (user["login"], user["password"])
    hashed = (await api.client.get(f"/api/3rdparty/v1/messages/{done}", auth=auth)).json()
    assert hashed["isHashed"] is True and "textMessage" not in hashed
    assert hashed["hashedMessage"] == {"hash": hashlib.sha256(b"secret text").hexdigest()}
    assert hashed["recipients"][0]["phoneNumber"] == hashlib.sha256(b"+79990001122").hexdigest()[:16]
    for untouched in (pending, encrypted):
        body = (await api.client.get(f"/api/3rdparty/v1/messages/{untouched}", auth=auth)).json()
        assert body["isHashed"] is False and "textMessage" in body

    # A late report from the phone still finds its (now hashed) recipient.
    late = [{"id": done, "state": "Failed", "recipients": [{"phoneNumber": "+79990001122", "state": "Failed",
                                                             "error": "late"}]}]
    await api.client.patch("/api/mobile/v1/message", json=late, headers={"Authorization": f"Bearer {user['token']}"})
    again = (await api.client.get(f"/api/3rdparty/v1/messages/{done}", auth=auth)).json()
    assert again["recipients"][0] == {"phoneNumber": hashed["recipients"][0]["phoneNumber"], "state": "Failed",
                                      "error": "late"}


async def test_cleanup_removes_old_finished_messages_and_stale_devices(api: Api) -> None:
    user = await api.register()
    other = await api.register(auth=(user["login"], user["password"]))
    finished = await _delivered(api, user, TEXT)
    pending = (await api.send(user, {**TEXT, "deviceId": user["id"]})).json()["id"]
    maintenance = api.services.maintenance
    assert await maintenance.delete_messages_created_before(now() - timedelta(hours=1)) == 0
    assert await maintenance.delete_messages_created_before(now() + timedelta(seconds=1)) == 1
    auth = (user["login"], user["password"])
    assert (await api.client.get(f"/api/3rdparty/v1/messages/{finished}", auth=auth)).status_code == 404
    assert (await api.client.get(f"/api/3rdparty/v1/messages/{pending}", auth=auth)).status_code == 200

    await api.services.online.flush()
    assert await maintenance.delete_devices_unseen_since(now() - timedelta(hours=1)) == 0
    assert await maintenance.delete_devices_unseen_since(now() + timedelta(seconds=1)) == 2
    assert (await api.client.get("/api/3rdparty/v1/devices", auth=auth)).json() == []
    assert other["id"]


async def test_expired_tokens_are_cleaned(tmp_path: Any, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, JWT__SECRET="x" * 32)
    async for api in open_api(settings):
        user = await api.register()
        await api.client.post("/api/3rdparty/v1/auth/token", json={"scopes": ["devices:list"]},
                              auth=(user["login"], user["password"]))
        tokens = api.services.tokens.repository
        assert await tokens.delete_expired(now()) == 0
        assert await tokens.delete_expired(now() + timedelta(hours=721)) == 2


async def test_last_seen_is_batched_but_shown_at_once(api: Api) -> None:
    user = await api.register()
    await api.services.online.flush()
    stored_before = (await api.services.accounts.devices.get(user["login"], user["id"])).last_seen
    await trio.sleep(0.01)
    await api.client.get("/api/mobile/v1/message", headers={"Authorization": f"Bearer {user['token']}"})
    stored = (await api.services.accounts.devices.get(user["login"], user["id"])).last_seen
    assert stored == stored_before  # not written yet
    shown = (await api.client.get("/api/3rdparty/v1/devices", auth=(user["login"], user["password"]))).json()
    assert shown[0]["lastSeen"] > stored_before.isoformat()
    assert await api.services.online.flush() == 1
    written = (await api.services.accounts.devices.get(user["login"], user["id"])).last_seen
    assert written > stored_before


async def test_queue_limits_answer_503(tmp_path: Any, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, sqlite_url, MESSAGES__QUEUE__MAX_PENDING="2",
                             MESSAGES__QUEUE__STATS_REFRESH_INTERVAL="0s")
    async for api in open_api(settings):
        user = await api.register()
        assert (await api.send(user, TEXT)).status_code == 202
        assert (await api.send(user, TEXT)).status_code == 202
        refused = await api.send(user, TEXT)
        assert refused.status_code == 503
        assert refused.json() == {"message": "failed to enqueue message: queue limits exceeded: "
                                             "too many pending messages: 2 / 2"}


async def test_too_many_failed_messages(tmp_path: Any, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, sqlite_url, MESSAGES__QUEUE__MAX_FAILED="2",
                             MESSAGES__QUEUE__MAX_FAILED_AGE="1h", MESSAGES__QUEUE__STATS_REFRESH_INTERVAL="0s")
    async for api in open_api(settings):
        user = await api.register()
        for _ in range(2):
            sent = (await api.send(user, TEXT)).json()
            await api.client.patch("/api/mobile/v1/message", headers={"Authorization": f"Bearer {user['token']}"},
                                   json=[{"id": sent["id"], "state": "Failed", "recipients": [
                                       {"phoneNumber": "+79990001122", "state": "Failed", "error": "x"}]}])
        refused = await api.send(user, TEXT)
        assert refused.status_code == 503
        assert refused.json()["message"].endswith("too many failed messages")


async def test_metrics_follow_message_states(sqlite_api: Api) -> None:
    def value(text: str, state: str) -> float:
        for line in text.splitlines():
            if line.startswith(f'sms_messages_total{{state="{state}"}}'):
                return float(line.split()[-1])
        return 0.0

    before = (await sqlite_api.client.get("/metrics")).text
    user = await sqlite_api.register()
    await _delivered(sqlite_api, user, TEXT)
    after = (await sqlite_api.client.get("/metrics")).text
    assert value(after, "Pending") == value(before, "Pending") + 1
    assert value(after, "Delivered") == value(before, "Delivered") + 1
    assert 'http_requests_total{method="POST",path="/api/3rdparty/v1/messages",status_code="202"} 1.0' in after
