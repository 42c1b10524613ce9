"""Replicas started together upgrade the database one at a time (a Kubernetes rollout of three, compose --scale).

"At head" is read from Alembic's script directory, so the tests hold whatever migrations the code ships.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from live_server import LiveServer
from test_readme_cycle import run_cli

from reference_server.storage.database import create_engine
from reference_server.storage.migrate import (
    LOCK_NAME,
    MIGRATIONS_DIR,
    PG_LOCK_KEY,
    MigrationLockTimeout,
    current_revision,
    head_revision,
    upgrade,
)

pytestmark = pytest.mark.slow

REPLICAS = 3


def previous_revision() -> str:
    head = head_revision()
    assert head is not None
    down = ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(head).down_revision
    assert isinstance(down, str), down  # one line of history, no merge points
    return down


def seed_rows(url: str) -> None:
    """A user and its phone in the tables as every migration so far has them."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        now = "2026-01-02 03:04:05"
        conn.execute(sa.text("INSERT INTO users (id, password_hash, created_at, updated_at) "
                             "VALUES ('olduser', 'x', :now, :now)"), {"now": now})
        conn.execute(sa.text("INSERT INTO devices (id, name, auth_token, user_id, sim_cards, last_seen, created_at, "
                             "updated_at) VALUES ('olddevice000000000001', 'Old', 'oldtoken0000000000001', 'olduser', "
                             "'[]', :now, :now, :now)"), {"now": now})
    engine.dispose()


def start_replicas_at_once(tmp_path: Path, url: str) -> None:
    servers = [LiveServer(tmp_path / f"replica{i}", env={"DATABASE__URL": url}) for i in range(REPLICAS)]
    for server in servers:
        server.workdir.mkdir()
    barrier = threading.Barrier(REPLICAS)

    def start(server: LiveServer) -> LiveServer:
        barrier.wait()
        return server.start(timeout=120)  # MariaDB DDL on a loaded machine

    try:
        with ThreadPoolExecutor(REPLICAS) as pool:
            started = list(pool.map(start, servers))
        for server in started:
            assert httpx.get(f"{server.base_url}/health/ready", timeout=10).status_code == 200, server.log()
    finally:
        for server in servers:
            server.stop()
    logs = [server.log() for server in servers]
    for log in logs:
        assert "Traceback" not in log, log
        assert "already exists" not in log, log
    engine = sa.create_engine(url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def check_rows_kept(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM devices WHERE user_id = 'olduser'")).scalar_one() == "Old"
    engine.dispose()


def migrate_to(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        upgrade(engine, revision)
    finally:
        engine.dispose()


def test_replicas_on_an_empty_sqlite_file(tmp_path: Path) -> None:
    start_replicas_at_once(tmp_path, f"sqlite:///{tmp_path / 'shared.db'}")


def test_replicas_upgrade_sqlite_with_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    migrate_to(url, previous_revision())
    seed_rows(url)
    start_replicas_at_once(tmp_path, url)
    check_rows_kept(url)


@pytest.fixture(params=[pytest.param("mariadb", marks=pytest.mark.mariadb),
                        pytest.param("postgresql", marks=pytest.mark.postgresql)])
def fresh_server_url(request: pytest.FixtureRequest) -> str:
    """An empty database on a database server: the named lock (MariaDB) or the advisory lock (PostgreSQL)."""
    return str(request.getfixturevalue("fresh_mariadb_url" if request.param == "mariadb" else "fresh_postgres_url"))


def test_replicas_on_an_empty_server_database(tmp_path: Path, fresh_server_url: str) -> None:
    start_replicas_at_once(tmp_path, fresh_server_url)


@pytest.mark.mariadb
def test_replicas_upgrade_mariadb_with_rows(tmp_path: Path, fresh_mariadb_url: str) -> None:
    """MariaDB only: its DDL is not transactional, so a half-done upgrade would keep its tables (PostgreSQL's lock
    is the one above, and its migrations run in a transaction)."""
    migrate_to(fresh_mariadb_url, previous_revision())
    seed_rows(fresh_mariadb_url)
    start_replicas_at_once(tmp_path, fresh_mariadb_url)
    check_rows_kept(fresh_mariadb_url)


def test_a_held_server_lock_makes_upgrade_wait_then_give_up(fresh_server_url: str,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    if sa.make_url(fresh_server_url).get_backend_name() == "postgresql":
        take, release, params = ("SELECT pg_try_advisory_lock(:key)", "SELECT pg_advisory_unlock(:key)",
                                 {"key": PG_LOCK_KEY})
    else:
        take, release, params = "SELECT GET_LOCK(:key, 0)", "SELECT RELEASE_LOCK(:key)", {"key": LOCK_NAME}
    holder = sa.create_engine(fresh_server_url)
    engine = create_engine(fresh_server_url)
    try:
        with holder.connect() as conn:
            assert conn.execute(sa.text(take), params).scalar() in (1, True)
            conn.commit()  # a session lock: it outlives the transaction
            with caplog.at_level(logging.INFO), pytest.raises(MigrationLockTimeout):
                upgrade(engine, wait=1)
            assert "another process is migrating the database" in caplog.text
            assert current_revision(engine) is None  # it touched nothing
            conn.execute(sa.text(release), params)
            conn.commit()
        upgrade(engine, wait=1)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
        holder.dispose()


def test_a_held_sqlite_lock_is_waited_for(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "shared.db"
    engine = create_engine(f"sqlite:///{path}")
    with open(tmp_path / "shared.db.migrate-lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        timer = threading.Timer(1.5, fcntl.flock, (lock, fcntl.LOCK_UN))
        timer.start()
        try:
            with caplog.at_level(logging.INFO):
                upgrade(engine, wait=60)
        finally:
            timer.join()
    assert "another process is migrating the database" in caplog.text
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_a_failing_migration_is_one_line_and_a_nonzero_exit(tmp_path: Path) -> None:
    (tmp_path / "not-a-database").write_bytes(b"this is not an SQLite file" * 100)
    for command in (["db", "upgrade"], ["serve"]):
        result = run_cli(tmp_path, *command, DATABASE__URL=f"sqlite:///{tmp_path / 'not-a-database'}",
                         HTTP__LISTEN="127.0.0.1:0")
        assert result.returncode == 1, result
        output = (result.stdout + result.stderr).strip()
        assert "Traceback" not in output
        assert output.count("\n") == 0, output
        assert "database migration failed: DatabaseError: file is not a database" in output
