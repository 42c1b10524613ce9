"""The shared-state port (`cache.url`) on each adapter, and the account rules it serves, in one process.

Across processes: test_shared_state_processes.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import trio
import trio.testing
from conftest import Api, error_of, make_settings, open_api
from sse_client import served

from reference_server.app import create_app
from reference_server.config import ConfigError
from reference_server.domain.shared_state import MemoryState, SharedState
from reference_server.storage.database import Database
from reference_server.storage.redis_state import RedisState
from reference_server.storage.shared_state import DatabaseState

TP, MB = "/api/3rdparty/v1", "/api/mobile/v1"
SECRET = "shared-state-secret-shared-state-secret"
NEW_PASSWORD = "the-new-password-0"


@pytest.fixture(params=["memory", "sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb),
                        pytest.param("postgres", marks=pytest.mark.postgresql),
                        pytest.param("redis", marks=pytest.mark.redis)])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[SharedState]:
    if request.param == "memory":
        yield MemoryState()
    elif request.param == "redis":
        redis_state = RedisState(request.getfixturevalue("redis_server"))
        yield redis_state
        await redis_state.aclose()
    else:
        db = Database(request.getfixturevalue(f"{request.param}_url"))
        yield DatabaseState(db)
        db.dispose()


async def test_the_port_on_each_adapter(state: SharedState) -> None:
    key = f"test:{secrets.token_hex(8)}"  # the Redis server is shared with other tests
    assert await state.get(key) is None
    assert await state.add(key, "first", 60)
    assert not await state.add(key, "second", 60)
    assert await state.get(key) == "first"
    await state.set(key, "third", 60)
    assert await state.take(key) == "third"
    assert await state.take(key) is None and await state.get(key) is None

    assert await state.count(key + ":n") == (0, 0)
    for expected in (1, 2, 3):
        count, left = await state.hit(key + ":n", 60)
        assert count == expected and 50 < left <= 60
    count, left = await state.count(key + ":n")
    assert count == 3 and 50 < left <= 60
    await state.unhit(key + ":n")  # taken back in the same window, which keeps its end
    count, left = await state.count(key + ":n")
    assert count == 2 and 50 < left <= 60
    assert (await state.hit(key + ":n", 60))[0] == 3
    for _ in range(4):
        await state.unhit(key + ":n")
    assert await state.count(key + ":n") == (0, 0)  # the last one taken back ended the window; never below 0
    count, left = await state.hit(key + ":n", 30)
    assert count == 1 and 20 < left <= 30  # a new window
    await state.unhit(key + ":n")
    await state.unhit(key + ":absent-n")
    assert await state.count(key + ":absent-n") == (0, 0)  # nothing made
    for _ in range(3):
        await state.hit(key + ":n", 60)
    await state.set(key, "epoch", 60)
    value, count, left = await state.read(key, key + ":n")  # one round trip for both
    assert value == "epoch" and count == 3 and 50 < left <= 60
    assert await state.read(key + ":absent", key + ":absent-n") == (None, 0, 0)


async def test_a_value_is_taken_once_among_concurrent_takers(state: SharedState) -> None:
    key = f"test:{secrets.token_hex(8)}"
    await state.set(key, "code-owner", 60)
    taken: list[str | None] = []

    async def take() -> None:
        taken.append(await state.take(key))

    async with trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(take)
    assert taken.count("code-owner") == 1 and taken.count(None) == 7


async def test_entries_expire(state: SharedState) -> None:
    key = f"test:{secrets.token_hex(8)}"
    await state.set(key, "short", 0.05)
    await state.hit(key + ":n", 0.05)
    await trio.sleep(0.1)
    assert await state.get(key) is None
    assert (await state.count(key + ":n"))[0] == 0
    assert await state.add(key, "again", 60)


@pytest.mark.parametrize("url", ["memcached://x", "http://redis:6379"])
def test_cache_url_is_validated(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="cache.url"):
        make_settings(tmp_path, "sqlite://", CACHE__URL=url)


@pytest.fixture
async def jwt_api(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Api]:
    async for handle in open_api(make_settings(tmp_path, sqlite_url, JWT__SECRET=SECRET)):
        yield handle


async def test_a_token_mints_only_scopes_it_holds(jwt_api: Api) -> None:
    http = jwt_api.client
    user = await jwt_api.register()
    basic = (user["login"], user["password"])

    async def mint(scopes: list[str], **auth: object) -> tuple[int, str]:
        response = await http.post(f"{TP}/auth/token", json={"scopes": scopes}, **auth)  # type: ignore[arg-type]
        return response.status_code, response.json().get("access_token", "")

    status, manager = await mint(["tokens:manage", "devices:list"], auth=basic)
    assert status == 201  # Basic (the account's password) mints anything
    as_manager = {"headers": {"Authorization": f"Bearer {manager}"}}
    assert (await mint(["devices:list"], **as_manager))[0] == 201
    assert (await mint(["tokens:manage", "devices:list"], **as_manager))[0] == 201
    for wider in (["all:any"], ["messages:send"], ["devices:list", "devices:delete"]):
        response = await http.post(f"{TP}/auth/token", json={"scopes": wider}, **as_manager)  # type: ignore[arg-type]
        assert error_of(response, 403) == "a token may only issue scopes it holds"
    status, everything = await mint(["all:any"], auth=basic)
    assert (await mint(["messages:send"], headers={"Authorization": f"Bearer {everything}"}))[0] == 201


async def test_wrong_current_passwords_are_failed_logins(sqlite_api: Api) -> None:
    device = await sqlite_api.register()
    bearer = {"Authorization": f"Bearer {device['token']}"}
    answers = []
    for _ in range(15):
        response = await sqlite_api.client.patch(f"{MB}/user/password", headers=bearer,
                                                 json={"currentPassword": "wrong", "newPassword": NEW_PASSWORD})
        answers.append(response.status_code)
    assert answers == [401] * 10 + [429] * 5  # auth.failed_login_limit: 10 a minute
    assert error_of(response, 429) == "Too Many Requests"
    assert 0 < int(response.headers["Retry-After"]) <= 60
    # over the limit even the right password is not checked
    response = await sqlite_api.client.patch(f"{MB}/user/password", headers=bearer,
                                             json={"currentPassword": device["password"], "newPassword": NEW_PASSWORD})
    assert response.status_code == 429


async def test_cached_credentials_are_limited_too(sqlite_api: Api) -> None:
    """A cached login is confirmed in one read with the client's failure count: over the limit, it gets 429."""
    device = await sqlite_api.register()
    good, bad = (device["login"], device["password"]), (device["login"], "wrong")
    assert (await sqlite_api.client.get(f"{TP}/devices", auth=good)).status_code == 200  # cached now
    for _ in range(10):
        assert (await sqlite_api.client.get(f"{TP}/devices", auth=bad)).status_code == 401
    limited = await sqlite_api.client.get(f"{TP}/devices", auth=good)
    assert error_of(limited, 429) == "Too Many Requests" and 0 < int(limited.headers["Retry-After"]) <= 60


async def test_a_deleted_devices_token_is_refused(sqlite_api: Api) -> None:
    device = await sqlite_api.register()
    bearer = {"Authorization": f"Bearer {device['token']}"}
    assert (await sqlite_api.client.get(f"{MB}/settings", headers=bearer)).status_code == 200  # now cached
    deleted = await sqlite_api.client.delete(f"{TP}/devices/{device['id']}", auth=(device["login"], device["password"]))
    assert deleted.status_code == 204
    assert error_of(await sqlite_api.client.get(f"{MB}/settings", headers=bearer), 401) == "Unauthorized"


async def test_a_one_time_code_works_once(sqlite_api: Api) -> None:
    device = await sqlite_api.register()
    answer = await sqlite_api.client.get(f"{MB}/user/code", auth=(device["login"], device["password"]))
    code = {"Authorization": f"Code {answer.json()['code'].upper()}"}
    assert (await sqlite_api.client.post(f"{MB}/device", json={"name": "b"}, headers=code)).status_code == 201
    assert (await sqlite_api.client.post(f"{MB}/device", json={"name": "c"}, headers=code)).status_code == 401
    hostile = {"Authorization": "Code " + "x" * 10_000}
    assert (await sqlite_api.client.post(f"{MB}/device", json={"name": "d"}, headers=hostile)).status_code == 401


async def test_a_user_deleted_in_the_database_gives_no_500(sqlite_api: Api) -> None:
    """Users are deleted by an operator in the database (no API, as upstream); requests still authenticated from
    a cache must not end in a 500."""
    device = await sqlite_api.register()
    auth = (device["login"], device["password"])
    assert (await sqlite_api.client.get(f"{TP}/devices", auth=auth)).status_code == 200  # cached now
    with sqlite_api.services.db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM users"))
    for method, path, body in [("POST", f"{TP}/webhooks", {"url": "https://example.com/h", "event": "sms:received"}),
                               ("PATCH", f"{TP}/settings", {"messages": {"limitValue": 5}}),
                               ("POST", f"{MB}/device", {"name": "another"})]:
        response = await sqlite_api.client.request(method, path, auth=auth, json=body)
        assert response.status_code < 500, f"{method} {path}: {response.text}"


async def test_a_client_leaving_mid_check_does_not_fail_others(tmp_path: Path, sqlite_url: str) -> None:
    """Concurrent requests with the same Basic credentials share one check. When the request running it is
    cancelled because its client disconnected, the others check again instead of answering 401 (real HTTP:
    Hypercorn on loopback; the check is held in its database read until the client has left)."""
    app = create_app(make_settings(tmp_path, sqlite_url, AUTH__FAILED_LOGIN_LIMIT="0"))
    async with served(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        device = (await http.post(f"{MB}/device", json={"name": "phone"})).json()
        auth = (device["login"], device["password"])
        users = app.extensions["smsgate"].accounts.users
        real_get, entered, release = users.get, trio.Event(), trio.Event()

        async def held_get(user_id: str) -> object:
            if not entered.is_set():  # only the first check is held
                entered.set()
                await release.wait()
            return await real_get(user_id)

        users.get = held_get
        host, port = base_url.removeprefix("http://").split(":")
        leaving = await trio.open_tcp_stream(host, int(port))
        header = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        await leaving.send_all(f"GET {TP}/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {header}\r\n\r\n"
                               .encode())
        await entered.wait()  # the first request is checking the credentials
        answers: list[httpx.Response] = []

        async def waiting() -> None:
            answers.append(await http.get(f"{TP}/devices", auth=auth))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiting)
            await trio.testing.wait_all_tasks_blocked(0.1)  # the second one waits for the first one's check
            await leaving.aclose()
        assert answers[0].status_code == 200, answers[0].text
