"""Shared fixtures: settings, real databases (SQLite file and MariaDB), the app over ASGI, a live server."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from reference_server.app import create_app
from reference_server.config import Settings, load_settings
from reference_server.events.notifier import MemoryNotifier

MARIADB_ADMIN_URL = os.environ.get("SMSGATE_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def make_settings(tmp_path: Any, database_url: str, **env: str) -> Settings:
    environ = {"DATABASE__URL": database_url, "HTTP__OPENAPI__ENABLED": "true", **env}
    return load_settings(config_path=None, environ=environ, dotenv_path=tmp_path / "absent.env")


def _mariadb_reachable() -> bool:
    engine = sa.create_engine(MARIADB_ADMIN_URL, connect_args={"connect_timeout": 3})
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
    if not _mariadb_reachable():
        if IN_CI:
            pytest.fail("MariaDB at 127.0.0.1:3306 is required when CI=true but is not reachable")
        pytest.skip("MariaDB at 127.0.0.1:3306 is not reachable (set CI=true to make this a failure)")
    yield MARIADB_ADMIN_URL


@pytest.fixture
def mariadb_url(mariadb_server: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = f"smsgate_test_{secrets.token_hex(4)}"
    admin = sa.create_engine(mariadb_server)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    try:
        yield sa.make_url(mariadb_server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'smsgate.db'}"
    return str(request.getfixturevalue("mariadb_url"))


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'smsgate.db'}"


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
