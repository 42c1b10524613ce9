"""One deployment, several server processes over real HTTP: what guards accounts holds across them.

Two processes on one SQLite file or one MariaDB database with Redis as `cache.url`, and `serve --workers 2`
without Redis (the state goes through the database). Every request opens a new connection, so with workers
the kernel spreads them over both processes.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from ca_testing import make_csr
from live_server import LiveServer
from private_services import PrivateRedis, private_redis  # noqa: F401 - fixture

from reference_server.ca.authority import init_root

pytestmark = pytest.mark.slow

TP, MB, CA = "/api/3rdparty/v1", "/api/mobile/v1", "/api/ca/v1"
CACHE_UNAVAILABLE = "cache unavailable, try again later"  # the documented 503
LIMIT = 8  # above the failures that one step of check_deployment makes on purpose
ENV = {"JWT__SECRET": "shared-state-jwt-secret-0123456789", "AUTH__FAILED_LOGIN_LIMIT": str(LIMIT),
       "HTTP__PROXIES": "127.0.0.1/32"}


class Client:
    """Requests from one client address (X-Forwarded-For through the trusted loopback proxy)."""

    def __init__(self) -> None:
        self.ip = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"

    def __call__(self, server: LiveServer, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Forwarded-For": self.ip, **kwargs.pop("headers", {})}
        response = httpx.request(method, server.base_url + path, headers=headers, timeout=30, **kwargs)
        documented = response.status_code == 503 and response.json() == {"message": CACHE_UNAVAILABLE}
        assert response.status_code < 500 or documented, f"{method} {path}: {response.status_code} {response.text}"
        return response


def check_deployment(a: LiveServer, b: LiveServer, tries: int = 1) -> None:
    """`tries`: each request to both repeated, so that with --workers (a is b) each process most likely gets one."""
    both = (a, b)

    def statuses(client: Client, servers: tuple[LiveServer, ...], method: str, path: str, **kwargs: Any) -> set[int]:
        return {client(server, method, path, **kwargs).status_code for server in servers for _ in range(tries)}

    device = Client()(a, "POST", f"{MB}/device", json={"name": "shared/phone"}).json()
    login, old = device["login"], device["password"]

    # a one-time code from A works on B, once, and then nowhere
    codes = Client()
    code = codes(a, "GET", f"{MB}/user/code", auth=(login, old)).json()["code"]
    joined = codes(b, "POST", f"{MB}/device", json={"name": "by-code"}, headers={"Authorization": f"Code {code}"})
    assert joined.status_code == 201, joined.text
    assert joined.json()["login"] == login
    again = Client()
    assert statuses(again, both, "POST", f"{MB}/device", json={"name": "x"},
                    headers={"Authorization": f"Code {code}"}) == {401}

    # B has the old password cached; right after A answered 204 to the change, B refuses it (also for tokens)
    cached = Client()
    assert statuses(cached, both, "GET", f"{TP}/devices", auth=(login, old)) == {200}
    new = "the-new-password-" + secrets.token_hex(4)
    changed = cached(a, "PATCH", f"{MB}/user/password", json={"currentPassword": old, "newPassword": new},
                     headers={"Authorization": f"Bearer {device['token']}"})
    assert changed.status_code == 204, changed.text
    refused = Client()
    assert statuses(refused, (b,), "GET", f"{TP}/devices", auth=(login, old)) == {401}
    assert statuses(Client(), (b,), "POST", f"{TP}/auth/token", auth=(login, old),
                    json={"scopes": ["all:any"]}) == {401}
    assert Client()(b, "GET", f"{TP}/devices", auth=(login, new)).status_code == 200

    # a device deleted through A is refused by both, though both had it cached
    owner = Client()
    second = owner(a, "POST", f"{MB}/device", json={"name": "second"}, auth=(login, new)).json()
    bearer = {"Authorization": f"Bearer {second['token']}"}
    assert statuses(owner, both, "GET", f"{MB}/settings", headers=bearer) == {200}
    assert owner(a, "DELETE", f"{TP}/devices/{second['id']}", auth=(login, new)).status_code == 204
    assert statuses(owner, both, "GET", f"{MB}/settings", headers=bearer) == {401}

    # a JWT revoked through A is refused by both
    issued = owner(a, "POST", f"{TP}/auth/token", auth=(login, new), json={"scopes": ["devices:list"]}).json()
    jwt = {"Authorization": f"Bearer {issued['access_token']}"}
    assert statuses(owner, both, "GET", f"{TP}/devices", headers=jwt) == {200}
    assert owner(a, "DELETE", f"{TP}/auth/token/{issued['id']}", auth=(login, new)).status_code == 204
    assert statuses(owner, both, "GET", f"{TP}/devices", headers=jwt) == {401}

    # the public relay's 5 requests a minute per client count once, whichever process saw them
    relay = Client()
    push = [{"token": "relayed", "event": "MessageEnqueued"}]
    assert [relay(server, "POST", "/api/upstream/v1/push", json=push).status_code
            for server in (a, b, a, b, a)] == [202] * 5
    for server in both:
        limited = relay(server, "POST", "/api/upstream/v1/push", json=push)
        assert limited.status_code == 429, limited.text
        assert 0 < int(limited.headers["Retry-After"]) <= 60

    # the mounted CA's limit (1 accepted CSR a minute per client) counts once, whichever process saw it
    submitter = Client()
    accepted = submitter(a, "POST", f"{CA}/csr", json={"content": make_csr()})
    assert accepted.status_code == 202, accepted.text
    for server in both:
        limited = submitter(server, "POST", f"{CA}/csr", json={"content": make_csr()})
        assert limited.status_code == 429, limited.text

    # failed logins count toward one limit, whichever process saw them
    attacker = Client()
    for server in both * (LIMIT // 2):
        assert attacker(server, "GET", f"{TP}/devices", auth=(login, "wrong")).status_code == 401
    for server in both:
        limited = attacker(server, "GET", f"{TP}/devices", auth=(login, new))
        assert limited.status_code == 429, limited.text
        assert 0 < int(limited.headers["Retry-After"]) <= 60


def with_ca(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    """`env` and ENV with the CA mounted (a root of its own in `tmp_path`)."""
    root = tmp_path / "ca"
    if not root.exists():
        init_root(root, key_type="ec")
    return {**ENV, **env, "CA__ENABLED": "true", "CA__DIR": str(root)}


@contextmanager
def _pair(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two processes on a database migrated already, started side by side."""
    servers = (LiveServer(tmp_path, env=with_ca(tmp_path, env), args=["--no-migrate"]),
               LiveServer(tmp_path, env=with_ca(tmp_path, env), args=["--no-migrate"]))
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(LiveServer.start, servers))
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.mark.redis
def test_two_processes_on_sqlite_with_redis(tmp_path: Path, sqlite_url: str, redis_server: str) -> None:
    with _pair(tmp_path, {"DATABASE__URL": sqlite_url, "CACHE__URL": redis_server}) as (a, b):
        check_deployment(a, b)


@pytest.mark.mariadb
def test_two_processes_on_mariadb_without_redis(tmp_path: Path, mariadb_url: str) -> None:
    """Several instances on one database, no Redis: `cache.url: database://`."""
    with _pair(tmp_path, {"DATABASE__URL": mariadb_url, "CACHE__URL": "database://"}) as (a, b):
        check_deployment(a, b)


@pytest.mark.postgresql
def test_two_processes_on_postgresql_without_redis(tmp_path: Path, postgres_url: str) -> None:
    with _pair(tmp_path, {"DATABASE__URL": postgres_url, "CACHE__URL": "database://"}) as (a, b):
        check_deployment(a, b)


@pytest.mark.redis
@pytest.mark.mariadb
def test_two_processes_on_mariadb_with_redis(tmp_path: Path, mariadb_url: str, redis_server: str) -> None:
    with _pair(tmp_path, {"DATABASE__URL": mariadb_url, "CACHE__URL": redis_server}) as (a, b):
        check_deployment(a, b)


def test_two_workers_without_redis_share_through_the_database(tmp_path: Path) -> None:
    """`serve --workers 2` with cache.url memory:// shares through the database. Which worker answers is the
    kernel's choice, so each request is repeated; that both answer requests is checked at the end."""
    env = with_ca(tmp_path, {"DATABASE__URL": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    with LiveServer(tmp_path, env=env, args=["--workers", "2"]) as server:
        check_deployment(server, server, tries=3)
        assert _answered_by_two_processes(server)
        assert "cache.url memory://: sharing that state through the database" in server.log()
    with sqlite3.connect(tmp_path / "db.sqlite") as db:  # the workers' epochs and counters are in the database
        kinds = {key.split(":")[0] for (key,) in db.execute("SELECT key FROM shared_state")}
    assert {"epoch", "failed-logins"} <= kinds


def _answered_by_two_processes(server: LiveServer) -> bool:
    """Each worker counts the /metrics requests it answered: from one process, the counts seen over new
    connections would go up by one each time."""
    sample = 'http_requests_total{method="GET",path="/metrics",status_code="200"}'
    seen: list[float] = []
    for _ in range(40):
        text = httpx.get(f"{server.base_url}/metrics", headers={"Connection": "close"}).text
        [count] = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(sample)] or [0.0]
        if seen and count != seen[-1] + 1:
            return True
        seen.append(count)
    return False


def test_redis_stopped_and_restarted(tmp_path: Path, private_redis: PrivateRedis) -> None:  # noqa: F811
    """While Redis is down: logins work (checked against the database), what needs Redis answers the documented
    503; once it is back, everything works again without a restart."""
    env = {**ENV, "DATABASE__URL": f"sqlite:///{tmp_path / 'db.sqlite'}", "CACHE__URL": private_redis.url}
    with LiveServer(tmp_path, env=env) as server:
        client = Client()
        device = client(server, "POST", f"{MB}/device", json={"name": "phone"}).json()
        auth, bearer = (device["login"], device["password"]), {"Authorization": f"Bearer {device['token']}"}
        assert client(server, "GET", f"{MB}/user/code", auth=auth).status_code == 200

        private_redis.stop()
        assert client(server, "GET", f"{TP}/devices", auth=auth).status_code == 200
        assert client(server, "GET", f"{MB}/settings", headers=bearer).status_code == 200
        assert client(server, "GET", f"{TP}/devices", auth=(device["login"], "wrong")).status_code == 401
        relay = Client()  # the relay limit falls back to a count in this process
        push = [{"token": "relayed", "event": "MessageEnqueued"}]
        relayed = [relay(server, "POST", "/api/upstream/v1/push", json=push).status_code for _ in range(6)]
        assert relayed == [202] * 5 + [429]
        for method, path, kwargs in [
            ("GET", f"{MB}/user/code", {"auth": auth}),
            ("PATCH", f"{MB}/user/password", {"headers": bearer,
                                              "json": {"currentPassword": auth[1], "newPassword": "new-password-1"}}),
            ("POST", f"{MB}/device", {"headers": {"Authorization": "Code abcdef"}, "json": {"name": "x"}}),
        ]:
            response = client(server, method, path, **kwargs)
            assert response.status_code == 503, response.text
            assert response.json() == {"message": CACHE_UNAVAILABLE}
        assert client(server, "GET", f"{TP}/devices", auth=auth).status_code == 200  # the password is unchanged

        private_redis.start()
        code = client(server, "GET", f"{MB}/user/code", auth=auth).json()["code"]
        joined = client(server, "POST", f"{MB}/device", json={"name": "y"}, headers={"Authorization": f"Code {code}"})
        assert joined.status_code == 201
        changed = client(server, "PATCH", f"{MB}/user/password", headers=bearer,
                         json={"currentPassword": auth[1], "newPassword": "new-password-2"})
        assert changed.status_code == 204, changed.text
        assert client(server, "GET", f"{TP}/devices", auth=auth).status_code == 401
