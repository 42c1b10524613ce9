"""The quick start as a user meets it: no config file, no SMSGate environment, data in ./smsgate.db.

Also the command line around it: `db upgrade`, a bad configuration value, `--help`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from live_server import LiveServer

from reference_server.storage.tables import metadata

pytestmark = pytest.mark.slow

PHONE = "+79990001122"


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without anything the server would read as configuration."""
    env = {k: v for k, v in os.environ.items() if "__" not in k and k not in ("CONFIG_PATH", "DEBUG")}
    return {**env, **extra}


def run_cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reference_server", *args], cwd=cwd, env=clean_env(**env),
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def bare_server(tmp_path: Path) -> Iterator[LiveServer]:
    assert not (tmp_path / "config.yml").exists() and not (tmp_path / ".env").exists()
    # LiveServer passes no SECTION__KEY variable except HTTP__LISTEN
    with LiveServer(tmp_path) as live:
        yield live


def test_quick_start_cycle(bare_server: LiveServer, tmp_path: Path) -> None:
    assert (tmp_path / "smsgate.db").is_file()  # the embedded default database, in the working directory
    with httpx.Client(base_url=bare_server.base_url, timeout=10) as http:
        # 1. the phone registers (public mode: no credentials needed) and gets a login and password
        registration = http.post("/api/mobile/v1/device", json={"name": "Pixel 8"})
        assert registration.status_code == 201, registration.text
        device = registration.json()
        assert set(device) == {"id", "token", "login", "password"}
        auth, device_auth = (device["login"], device["password"]), {"Authorization": f"Bearer {device['token']}"}

        # 2. the integrator sends a message with those credentials
        sent = http.post("/api/3rdparty/v1/messages", auth=auth,
                         json={"textMessage": {"text": "Hello from the quick start"}, "phoneNumbers": [PHONE]})
        assert sent.status_code == 202, sent.text
        message_id = sent.json()["id"]
        assert sent.headers["Location"] == f"/api/3rdparty/v1/messages/{message_id}"
        assert sent.json()["state"] == "Pending"

        # 3. the phone pulls it
        pulled = http.get("/api/mobile/v1/message", headers=device_auth)
        assert pulled.status_code == 200, pulled.text
        [message] = pulled.json()
        assert message["id"] == message_id
        assert message["textMessage"] == {"text": "Hello from the quick start"}
        assert message["phoneNumbers"] == [PHONE] and message["state"] == "Pending"

        # 4. the phone reports Sent, then Delivered
        processed, sent_at, delivered = "2025-06-01T12:00:00.100Z", "2025-06-01T12:00:01.200Z", \
            "2025-06-01T12:00:05.300Z"
        for state, states in (("Sent", {"Processed": processed, "Sent": sent_at}),
                              ("Delivered", {"Processed": processed, "Sent": sent_at, "Delivered": delivered})):
            report = http.patch("/api/mobile/v1/message", headers=device_auth, json=[{
                "id": message_id, "state": state, "recipients": [{"phoneNumber": PHONE, "state": state}],
                "states": states}])
            assert report.status_code == 204, report.text
        assert http.get("/api/mobile/v1/message", headers=device_auth).json() == []

        # 5. the integrator sees the outcome
        outcome = http.get(f"/api/3rdparty/v1/messages/{message_id}", auth=auth)
        assert outcome.status_code == 200, outcome.text
        body = outcome.json()
        assert body["state"] == "Delivered"
        assert body["recipients"] == [{"phoneNumber": PHONE, "state": "Delivered"}]
        assert set(body["states"]) == {"Pending", "Processed", "Sent", "Delivered"}
        times = {k: datetime.fromisoformat(v) for k, v in body["states"].items()}
        assert times["Processed"] < times["Sent"] < times["Delivered"]
        assert times["Delivered"] == datetime.fromisoformat(delivered)

        # without OpenAPI enabled (the default) the docs are not served
        assert http.get("/api/docs/doc.json").status_code == 404


def test_db_upgrade_creates_tables_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    url = f"sqlite:///{path}"
    first = run_cli(tmp_path, "db", "upgrade", DATABASE__URL=url)
    assert first.returncode == 0, first.stderr
    assert "up to date" in first.stdout

    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        tables = set(inspector.get_table_names())
        assert set(metadata.tables) <= tables
        assert "alembic_version" in tables
        with engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
        assert len(version) == 1
        columns = {c["name"] for c in inspector.get_columns("messages")}
        assert set(metadata.tables["messages"].columns.keys()) == columns

        second = run_cli(tmp_path, "db", "upgrade", DATABASE__URL=url)
        assert second.returncode == 0, second.stderr
        inspector = sa.inspect(engine)
        assert set(inspector.get_table_names()) == tables
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == version
    finally:
        engine.dispose()
    assert not (tmp_path / "smsgate.db").exists()  # DATABASE__URL was honoured


def test_bad_config_value_exits_with_a_message(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", GATEWAY__MODE="nope", HTTP__LISTEN="127.0.0.1:0")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "gateway.mode" in output
    assert "'nope'" in output
    assert "Traceback" not in output
    assert not (tmp_path / "smsgate.db").exists()  # it stopped before touching the database


def test_bad_config_file_exits_with_a_message(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text("http:\n  listen: 'not-an-address'\n", encoding="utf-8")
    result = run_cli(tmp_path, "db", "upgrade")
    assert result.returncode != 0
    assert "http.listen" in result.stderr
    assert "Traceback" not in result.stderr


def test_help(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
    for command in ("serve", "db", "health"):
        assert command in result.stdout
