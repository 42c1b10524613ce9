"""The CA inside smsgate-server: the `ca` config section and the mount under `ca.path_prefix`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from ca_testing import make_csr, wait_for_status
from conftest import make_settings, open_api

from reference_server.ca.authority import init_root
from reference_server.ca.server import database_url
from reference_server.config import ConfigError, load_settings


@pytest.fixture(scope="module")
def root_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ca-mount") / "ca"
    init_root(directory, key_type="ec")
    return directory


def load(tmp_path: Path, **env: str):
    return load_settings(config_path=None, environ=env, dotenv_path=tmp_path / "absent.env")


def test_defaults(tmp_path: Path) -> None:
    ca = load(tmp_path).ca
    assert (ca.enabled, ca.dir, ca.ttl, ca.rate_limit, ca.path_prefix) == (
        False, "", timedelta(hours=24), 1, "/api/ca/v1")


@pytest.mark.parametrize(("env", "expected"), [
    ({"CA__ENABLED": "true"}, "ca.dir: required when ca.enabled is true"),
    ({"CA__ENABLED": "true", "CA__DIR": "/nonexistent/ca"},
     "ca.dir: no CA root in '/nonexistent/ca' (missing ca.crt, ca.key); create one with `smsgate-ca init"),
    ({"CA__TTL": "0"}, "ca.ttl: must be positive"),
    ({"CA__TTL": "soon"}, "ca.ttl: invalid duration 'soon'"),
    ({"CA__RATE_LIMIT": "-1"}, "ca.rate_limit:"),
    ({"CA__PATH_PREFIX": "api/ca"}, "ca.path_prefix: expected a URL path like '/api/ca/v1'"),
])
def test_bad_values_name_the_key(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, **env)
    assert expected in str(info.value)


def test_yaml_section(tmp_path: Path, root_dir: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text(f"ca:\n  enabled: true\n  dir: {root_dir}\n  ttl: 90m\n  rate_limit: 5\n  path_prefix: /ca/\n")
    ca = load_settings(config_path=path, environ={}, dotenv_path=tmp_path / "absent.env").ca
    assert (ca.enabled, ca.ttl, ca.rate_limit, ca.path_prefix) == (True, timedelta(minutes=90), 5, "/ca")


async def test_mounted_inside_smsgate_server(tmp_path: Path, root_dir: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'server.db'}", CA__ENABLED="true",
                             CA__DIR=str(root_dir))
    async for api in open_api(settings):
        client = api.client
        response = await client.post("/api/ca/v1/csr", json={"content": make_csr(), "type": "private_server"})
        assert response.status_code == 202, response.text
        base = client.base_url
        client.base_url = base.join("/api/ca/v1")
        try:
            approved = await wait_for_status(client, response.json()["request_id"])
        finally:
            client.base_url = base
        assert approved["type"] == "private_server"
        assert (await client.post("/api/ca/v1/csr", json={"content": make_csr()})).status_code == 429
        assert (await client.post("/api/v1/csr", json={"content": make_csr()})).status_code == 404
        assert (await client.get("/health")).status_code == 200  # the gateway is still the gateway


async def test_not_mounted_by_default(sqlite_api) -> None:
    response = await sqlite_api.client.post("/api/ca/v1/csr", json={"content": make_csr()})
    assert response.status_code == 404


def test_standalone_database_is_the_configured_one_or_sqlite_in_the_ca_dir(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    assert database_url(load(tmp_path), directory) == f"sqlite:///{directory.resolve() / 'ca.db'}"
    assert database_url(load(tmp_path, DATABASE__URL="sqlite:///elsewhere.db"), directory) == "sqlite:///elsewhere.db"
    assert database_url(load(tmp_path, DATABASE__HOST="db"), directory).startswith("mysql+pymysql://sms:sms@db:3306/")
