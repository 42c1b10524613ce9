"""Shared fixtures: settings, real databases (SQLite file, MariaDB, PostgreSQL), the app over ASGI, a live server."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
import sqlalchemy as sa

from reference_server.app import create_app
from reference_server.config import Settings, load_settings
from reference_server.domain import accounts
from reference_server.events.notifier import MemoryNotifier
from reference_server.storage.database import create_engine
from reference_server.storage.migrate import upgrade
from reference_server.storage.tables import metadata

MARIADB_ADMIN_URL = os.environ.get("SMSGATE_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
POSTGRES_ADMIN_URL = os.environ.get("SMSGATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SMSGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(what: str) -> NoReturn:
    """Something a test needs is missing on this machine: a failure in CI (CI=true), elsewhere a skip."""
    if IN_CI:
        pytest.fail(f"{what} (required when CI=true)")
    pytest.skip(f"{what} (set CI=true to make this a failure)")


def make_settings(tmp_path: Any, database_url: str, **env: str) -> Settings:
    # The inbox cleanup off unless a test asks: its first run comes at a random moment in the first minute, and
    # the tests' received SMS carry fixed dates older than its 30 days.
    environ = {"DATABASE__URL": database_url, "HTTP__OPENAPI__ENABLED": "true",
               "TASKS__INBOX_CLEANUP__INTERVAL": "0s", **env}
    return load_settings(config_path=None, environ=environ, dotenv_path=tmp_path / "absent.env")


def _reachable(admin_url: str) -> bool:
    engine = sa.create_engine(admin_url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[str]:
    """Admin URL of the MariaDB server; in CI its absence is a failure, elsewhere a skip."""
    if not _reachable(MARIADB_ADMIN_URL):
        unavailable("MariaDB at 127.0.0.1:3306 is not reachable")
    yield MARIADB_ADMIN_URL


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Admin URL of the PostgreSQL server; in CI its absence is a failure, elsewhere a skip."""
    if not _reachable(POSTGRES_ADMIN_URL):
        unavailable("PostgreSQL at 127.0.0.1:5432 is not reachable")
    yield POSTGRES_ADMIN_URL


def _redis_reachable() -> bool:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """URL of the Redis server; in CI its absence is a failure, elsewhere a skip."""
    if not _redis_reachable():
        unavailable("Redis at 127.0.0.1:6379 is not reachable")
    yield REDIS_URL


def _create_database(admin_url: str) -> str:
    name = f"smsgate_test_{secrets.token_hex(4)}"
    if sa.make_url(admin_url).get_backend_name() == "postgresql":
        statement = f"CREATE DATABASE {name} ENCODING 'UTF8'"
    else:
        statement = f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")  # PostgreSQL: not inside a transaction
    with admin.connect() as conn:
        conn.execute(sa.text(statement))
    admin.dispose()
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(admin_url: str, url: str) -> None:
    name = sa.make_url(url).database
    # PostgreSQL refuses to drop a database with sessions; a server a test left running may still hold some.
    force = " WITH (FORCE)" if sa.make_url(admin_url).get_backend_name() == "postgresql" else ""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
    admin.dispose()


def _migrated(url: str) -> None:
    engine = create_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


@contextmanager
def _scratch_database(admin_url: str, migrated: bool) -> Iterator[str]:
    """A new database on the server of `admin_url` (migrated to head if asked), dropped afterwards."""
    url = _create_database(admin_url)
    try:
        if migrated:
            _migrated(url)
        yield url
    finally:
        _drop_database(admin_url, url)


@pytest.fixture
def fresh_mariadb_url(mariadb_server: str) -> Iterator[str]:
    """A new, empty (unmigrated) database for one test, dropped afterwards."""
    with _scratch_database(mariadb_server, migrated=False) as url:
        yield url


@pytest.fixture(scope="session")
def _mariadb_migrated(mariadb_server: str) -> Iterator[str]:
    with _scratch_database(mariadb_server, migrated=True) as url:  # once per session: MariaDB DDL is slow
        yield url


@pytest.fixture
def mariadb_url(_mariadb_migrated: str) -> str:
    """A migrated database with every table emptied before the test."""
    engine = sa.create_engine(_mariadb_migrated)
    with engine.begin() as conn:
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=0"))
        for table in sa.inspect(conn).get_table_names():
            if table != "alembic_version":
                conn.execute(sa.text(f"DELETE FROM `{table}`"))
        conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=1"))
    engine.dispose()
    return _mariadb_migrated


@pytest.fixture
def fresh_postgres_url(postgres_server: str) -> Iterator[str]:
    """A new, empty (unmigrated) PostgreSQL database for one test, dropped afterwards."""
    with _scratch_database(postgres_server, migrated=False) as url:
        yield url


@pytest.fixture(scope="session")
def _postgres_migrated(postgres_server: str) -> Iterator[str]:
    with _scratch_database(postgres_server, migrated=True) as url:
        yield url


@pytest.fixture
def postgres_url(_postgres_migrated: str) -> str:
    """A migrated PostgreSQL database with every table emptied before the test: DELETE, children first (a few
    rows each: far quicker than TRUNCATE, which replaces every table's files, or a database per test)."""
    engine = sa.create_engine(_postgres_migrated)
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    engine.dispose()
    return _postgres_migrated


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "smsgate.db"
    _migrated(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """A migrated SQLite file of the test's own (a copy of a template migrated once)."""
    path = tmp_path / "smsgate.db"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb),
                        pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = {"sqlite": "sqlite_url", "mariadb": "mariadb_url", "postgresql": "postgres_url"}[request.param]
    return str(request.getfixturevalue(fixture))


class Api:
    """An httpx client on the app plus the notifier it reports to, with helpers for common steps."""

    def __init__(self, client: httpx.AsyncClient, notifier: MemoryNotifier, app: Any = None) -> None:
        self.client = client
        self.notifier = notifier
        self.app = app

    @property
    def services(self) -> Any:
        return self.app.extensions["smsgate"]

    async def register(self, auth: Any = None, headers: dict[str, str] | None = None,
                       **body: Any) -> dict[str, Any]:
        response = await self.client.post("/api/mobile/v1/device", json=body or {"name": "test/phone"},
                                          auth=auth, headers=headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def send(self, user: dict[str, Any], body: dict[str, Any], **params: Any) -> httpx.Response:
        return await self.client.post("/api/3rdparty/v1/messages", json=body, params=params,
                                      auth=(user["login"], user["password"]))


async def open_api(settings: Settings) -> AsyncIterator[Api]:
    notifier = MemoryNotifier()
    app = create_app(settings, notifier=notifier)
    async with app.test_app():
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(client, notifier, app)


@pytest.fixture
async def api(tmp_path: Any, database_url: str) -> AsyncIterator[Api]:
    """The app on SQLite and on MariaDB (public mode)."""
    async for handle in open_api(make_settings(tmp_path, database_url)):
        yield handle


@pytest.fixture
async def sqlite_api(tmp_path: Any, sqlite_url: str) -> AsyncIterator[Api]:
    """The app on SQLite only, for tests whose subject is not storage."""
    async for handle in open_api(make_settings(tmp_path, sqlite_url)):
        yield handle


def error_of(response: httpx.Response, status: int) -> str:
    """The message of a JSON error answer, after checking its status and shape."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"message"}, body
    return str(body["message"])


def events(api: Api, event_type: str) -> list[Any]:
    """The notifications of one event type the app sent so far."""
    return [n for n in api.notifier.sent if n.event.type == event_type]


@pytest.fixture(autouse=True)
def _cheap_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests hash passwords at bcrypt's lowest cost (4, not the server's 10): a hash costs about 80 ms
    on these machines and most tests register users. Servers started as processes keep the real cost, which
    test_abuse_secrets checks on the stored hashes."""
    monkeypatch.setattr(accounts, "BCRYPT_ROUNDS", 4)


@pytest.fixture
def bcrypt_checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The passwords bcrypt checks during the test, in order (the real check still runs)."""
    import bcrypt

    checks: list[bytes] = []
    real = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        checks.append(password)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", spy)
    return checks
