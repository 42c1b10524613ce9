"""Group commit (storage/batching.py): concurrent units share a transaction, a failing unit fails alone, a
queued unit is dropped with its cancelled caller; and the hot paths built on it keep their answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
import trio
import trio.testing
from conftest import Api

from reference_server.domain.ids import URL_ALPHABET, new_id
from reference_server.events.notifier import DeviceEvent
from reference_server.events.router import ROUTING_TASKS
from reference_server.storage import messages as stored_messages
from reference_server.storage.database import Database

TABLE = sa.Table("items", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("name", sa.String(32), unique=True))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_size=4)
    await trio.to_thread.run_sync(lambda: TABLE.create(database.engine, checkfirst=True))
    yield database
    await trio.to_thread.run_sync(lambda: TABLE.drop(database.engine, checkfirst=True))
    database.dispose()


def _insert(conn: Any, name: str) -> str:
    conn.execute(TABLE.insert(), {"name": name})
    return name


def _names(conn: Any) -> list[str]:
    return sorted(row.name for row in conn.execute(sa.select(TABLE.c.name)))


async def _all_at_once(db: Database, names: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}

    async def one(index: int, name: str) -> None:
        try:
            results[f"{index}:{name}"] = await db.batched(_insert, name)
        except Exception as exc:  # noqa: BLE001
            results[f"{index}:{name}"] = exc

    async with trio.open_nursery() as nursery:
        for index, name in enumerate(names):
            nursery.start_soon(one, index, name)
    return results


async def test_concurrent_units_share_transactions(db: Database) -> None:
    names = [f"n{i}" for i in range(40)]
    results = await _all_at_once(db, names)
    assert sorted(results.values()) == sorted(names)
    assert await db.run(_names) == sorted(names)
    assert db.batcher.batches >= 1  # some units shared a transaction
    assert db.batcher.retried == 0


async def test_a_failing_unit_fails_alone(db: Database) -> None:
    await db.run(_insert, "taken")
    names = [f"a{i}" for i in range(10)] + ["taken"] + [f"b{i}" for i in range(10)]
    results = await _all_at_once(db, names)
    failed = {key: value for key, value in results.items() if isinstance(value, Exception)}
    assert list(failed) == ["10:taken"] and isinstance(failed["10:taken"], sa.exc.IntegrityError)
    assert await db.run(_names) == sorted([*names[:10], *names[11:], "taken"])


async def test_the_same_row_twice_in_one_batch_commits_once(db: Database) -> None:
    results = await _all_at_once(db, ["twin", "other", "twin"])
    errors = [key for key, value in results.items() if isinstance(value, Exception)]
    assert errors in (["0:twin"], ["2:twin"])  # one of them, as without batching
    assert await db.run(_names) == ["other", "twin"]


async def test_a_cancelled_caller_drops_its_queued_unit(db: Database) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(db.batched, _insert, "first")  # leads: its batch runs in a thread
        await trio.testing.wait_all_tasks_blocked()
        with trio.move_on_after(0):  # queued behind the running batch, then cancelled
            await db.batched(_insert, "dropped")
    assert await db.run(_names) == ["first"]


async def test_units_of_one_many_form_run_together(db: Database) -> None:
    groups: list[int] = []

    def insert_many(conn: Any, calls: list[tuple[str]]) -> list[str]:
        groups.append(len(calls))
        conn.execute(TABLE.insert(), [{"name": name} for (name,) in calls])  # one executemany for the group
        return [name for (name,) in calls]

    async def one(name: str) -> None:
        results[name] = await db.batched(_insert, name, many=insert_many)

    results: dict[str, str] = {}
    names = [f"m{i}" for i in range(40)]
    async with trio.open_nursery() as nursery:
        for name in names:
            nursery.start_soon(one, name)
    assert results == {name: name for name in names}  # each caller gets its own result
    assert await db.run(_names) == sorted(names)
    assert max(groups) > 1 and sum(groups) == db.batcher.grouped <= len(names)  # lone units run `_insert`


async def test_a_failing_many_form_runs_its_units_alone(db: Database) -> None:
    await db.run(_insert, "taken")

    def insert_many(conn: Any, calls: list[tuple[str]]) -> list[str]:
        conn.execute(TABLE.insert(), [{"name": name} for (name,) in calls])
        return [name for (name,) in calls]

    names = [f"a{i}" for i in range(10)] + ["taken"] + [f"b{i}" for i in range(10)]
    results: dict[str, Any] = {}

    async def one(index: int, name: str) -> None:
        try:
            results[f"{index}:{name}"] = await db.batched(_insert, name, many=insert_many)
        except Exception as exc:  # noqa: BLE001
            results[f"{index}:{name}"] = exc

    async with trio.open_nursery() as nursery:
        for index, name in enumerate(names):
            nursery.start_soon(one, index, name)
    failed = [key for key, value in results.items() if isinstance(value, Exception)]
    assert failed == ["10:taken"] and isinstance(results["10:taken"], sa.exc.IntegrityError)
    assert await db.run(_names) == sorted([*names[:10], *names[11:], "taken"])


async def test_concurrent_sends_keep_their_own_rows(api: Api) -> None:
    """Sends written by one multi-row INSERT per table (storage/messages.py `_insert_many`), their devices
    looked up in one statement (storage/devices.py `_candidate_ids_many`): each message gets its own device,
    recipients and state, and a duplicate id among them fails alone (409)."""
    user = await api.register()
    auth = (user["login"], user["password"])
    second = await api.register(auth=auth, name="second")
    bodies = {f"id-{i}": {"textMessage": {"text": f"text {i}"}, "id": f"id-{i}",
                          "phoneNumbers": [f"+7999123{i:04d}", f"+7999765{i:04d}"]} for i in range(40)}
    for i in range(0, 40, 2):
        bodies[f"id-{i}"]["deviceId"] = second["id"]
    bodies["id-7"]["deviceId"] = user["id"]  # ids are unique per device: its second send must find the first
    devices = {user["id"], second["id"]}
    answers: dict[str, int] = {}

    async def wave(ext_ids: list[str]) -> None:
        async def one(ext_id: str) -> None:
            answers[ext_id] = (await api.send(user, bodies[ext_id])).status_code

        async with trio.open_nursery() as nursery:
            for ext_id in ext_ids:
                nursery.start_soon(one, ext_id)

    await wave(list(bodies)[:20])
    assert api.services.db.batcher.grouped > 1  # some sends shared their INSERTs
    await wave(list(bodies)[20:] + ["id-7"])  # a duplicate among new sends: their batch is written unit by unit
    assert answers == {ext_id: 409 if ext_id == "id-7" else 202 for ext_id in bodies}
    for ext_id, body in bodies.items():
        state = (await api.client.get(f"/api/3rdparty/v1/messages/{ext_id}", auth=auth)).json()
        assert state["textMessage"] == body["textMessage"]
        assert sorted(r["phoneNumber"] for r in state["recipients"]) == sorted(body["phoneNumbers"])
        assert state["state"] == "Pending" and "Pending" in state["states"]
        assert state["deviceId"] == body["deviceId"] if "deviceId" in body else state["deviceId"] in devices


async def test_big_sends_are_split_over_several_inserts(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's messages go in INSERTs of at most STATEMENT_BYTES of content (MariaDB refuses a statement
    above max_allowed_packet); made small here, so that each statement holds one or two of them."""
    monkeypatch.setattr(stored_messages, "STATEMENT_BYTES", 200)
    user = await api.register()
    texts = {f"big-{i}": f"{i} " + "x" * 60 for i in range(12)}
    answers: dict[str, int] = {}

    async def one(ext_id: str) -> None:
        body = {"textMessage": {"text": texts[ext_id]}, "phoneNumbers": ["+79991234567"], "id": ext_id}
        answers[ext_id] = (await api.send(user, body)).status_code

    async with trio.open_nursery() as nursery:
        for ext_id in texts:
            nursery.start_soon(one, ext_id)
    assert answers == dict.fromkeys(texts, 202)
    assert api.services.db.batcher.grouped > 1 and api.services.db.batcher.retried == 0
    for ext_id, text in texts.items():
        state = (await api.client.get(f"/api/3rdparty/v1/messages/{ext_id}", auth=(user["login"], user["password"])))
        assert state.json()["textMessage"] == {"text": text}


def test_new_ids_are_nanoids() -> None:
    ids = {new_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 21 and set(i) <= set(URL_ALPHABET) for i in ids)
    assert set("".join(ids)) == set(URL_ALPHABET)  # every symbol turns up


async def test_concurrent_logins_share_one_bcrypt_check(sqlite_api: Api, bcrypt_checks: list[bytes]) -> None:
    user = await sqlite_api.register()
    statuses: list[int] = []

    async def devices(password: str) -> None:
        response = await sqlite_api.client.get("/api/3rdparty/v1/devices", auth=(user["login"], password))
        statuses.append(response.status_code)

    for password, expected in (("wrong-password", 401), (user["password"], 200)):
        bcrypt_checks.clear()
        statuses.clear()
        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(devices, password)
        assert statuses == [expected] * 8
        assert bcrypt_checks == [password.encode()]


async def test_routing_looks_devices_up_once_per_batch(sqlite_api: Api) -> None:
    """Events for many devices queued together cost one device lookup, not one each."""
    services = sqlite_api.services
    router = services.events.router
    user = await sqlite_api.register()
    device_ids = [user["id"]]
    for _ in range(5):
        device_ids.append((await sqlite_api.register(auth=(user["login"], user["password"])))["id"])
    lookups: list[int] = []
    real = router.devices.routes

    async def spy(ids: list[str]) -> Any:
        lookups.append(len(ids))
        return await real(ids)

    router.devices.routes = spy
    received: list[tuple[str, str]] = []
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            for device_id in device_ids:
                async def listen(device_id: str = device_id) -> None:
                    with services.events.sse.connect(device_id) as stream:
                        async for event, _ in stream:
                            received.append((device_id, event.type))
                nursery.start_soon(listen)
            await trio.testing.wait_all_tasks_blocked()
            for device_id in device_ids * 3:  # three of each: routed once
                await router.notify(user["login"], device_id, DeviceEvent("MessageEnqueued"))
            with trio.fail_after(5):
                while router.busy or len(received) < len(device_ids):  # noqa: ASYNC110
                    await trio.sleep(0.01)
            await trio.sleep(0.05)
            scope.cancel()
    assert set(received) == {(d, "MessageEnqueued") for d in device_ids}
    # A routing task already waiting takes the first notification at once; the rest go in one batch (one per
    # waiting task at most): a lookup per batch, never one per event.
    assert len(lookups) <= ROUTING_TASKS and sum(lookups) <= len(device_ids) + ROUTING_TASKS
    assert len(received) <= len(device_ids) + ROUTING_TASKS
