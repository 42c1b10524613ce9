"""`smsgate-server db adopt`: a database of upstream's Go server (v1.47.x, MariaDB) taken over in place.

The upstream database is built by tests/upstream_db.py (its own DDL, from the contract's table facts, with rows
in every table). After the adopt a real server process serves it: the official client logs in with the old
password and finds the old messages, a phone with its old token pulls and reports, the Go server's JWTs keep
their revocations. A failure before the switch leaves the database as it was, table for table, row for row.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import android_sms_gateway as sg
import httpx
import jwt
import pytest
import sqlalchemy as sa
import upstream_db as up
from conftest import _create_database, _drop_database
from live_server import LiveServer

from reference_server.cli import main
from reference_server.storage import adopt
from reference_server.storage.database import create_engine
from reference_server.storage.migrate import UpstreamDatabase, upgrade

pytestmark = [pytest.mark.mariadb, pytest.mark.slow]

MOBILE = "/api/mobile/v1"
JWT_SECRET = "the-go-servers-jwt-secret-32-chars-or-more"


@pytest.fixture
def upstream_url(fresh_mariadb_url: str, mariadb_server: str) -> Iterator[str]:
    up.build(fresh_mariadb_url)
    try:
        yield fresh_mariadb_url
    finally:  # adopt drops its scratch database itself; this is for a test that failed in the middle
        scratch = sa.make_url(fresh_mariadb_url).database + adopt.SCRATCH_SUFFIX  # type: ignore[operator]
        engine = sa.create_engine(mariadb_server)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{scratch}`"))
        engine.dispose()


def _ddl(url: str) -> dict[str, str]:
    """Our tables' DDL, the AUTO_INCREMENT counters left out (they follow the rows)."""
    return {table: " ".join(w for w in ddl.split() if not w.startswith("AUTO_INCREMENT="))
            for table, (ddl, _) in up.snapshot(url).items() if not table.startswith(adopt.BACKUP_PREFIX)}


def _jwt(jti: str) -> str:
    now = int(time.time())
    claims = {"iss": "sms-gate.app", "sub": up.LOGIN, "user_id": up.LOGIN, "iat": now, "exp": now + 3600,
              "jti": jti, "scopes": ["messages:list"]}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def test_adopted_database_serves_the_old_users_phones_and_messages(
        tmp_path: Path, upstream_url: str, mariadb_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = up.snapshot(upstream_url)
    assert main(["db", "adopt", "--dry-run", "--url", upstream_url]) == 0
    said = capsys.readouterr().out
    assert "goose version 20260617000000" in said and "nothing was changed (--dry-run)" in said
    assert "message_recipients  5 rows" in said and "tokens              3 rows" in said
    assert up.snapshot(upstream_url) == before  # the dry run changed nothing

    assert main(["db", "adopt", "--url", upstream_url]) == 0
    assert "database is up to date" in capsys.readouterr().out
    # the same schema as a database this server built from scratch, so later migrations apply alike
    fresh = _ddl(mariadb_url)
    adopted = _ddl(upstream_url)
    assert adopted == fresh
    # upstream's tables are kept aside, untouched, under the backup prefix
    kept = up.snapshot(upstream_url)
    assert kept["upstream_goose_db_version"][1] == before["goose_db_version"][1]
    assert kept["upstream_messages"][1] == before["messages"][1]

    env = {"DATABASE__URL": upstream_url, "JWT__SECRET": JWT_SECRET}
    with LiveServer(tmp_path, env=env) as server:
        base = server.base_url
        with sg.APIClient(up.LOGIN, up.PASSWORD, base_url=f"{base}/api/3rdparty/v1") as client:
            old = {m.id: m for m in client.get_messages()}
            assert set(old) == {up.PENDING_ID, up.SENT_ID, up.DATA_ID, up.HASHED_ID}
            assert old[up.SENT_ID].state is sg.ProcessState.Delivered
            assert list(old[up.SENT_ID].states or {}) == ["Pending", "Processed", "Sent", "Delivered"]
            assert [(r.phone_number, r.state, r.error) for r in old[up.DATA_ID].recipients] == [
                (up.PHONE, sg.ProcessState.Failed, "RESULT_ERROR_NO_SERVICE")]
            assert old[up.HASHED_ID].is_hashed is True
            assert {w.id for w in client.get_webhooks()} == {"old-hook-all", "old-hook-dev"}
            new = client.send(sg.Message(phone_numbers=[up.PHONE], text_message=sg.TextMessage("after the move")))

        wrong = httpx.get(f"{base}/api/3rdparty/v1/messages", auth=(up.LOGIN, "not-the-password"))
        assert wrong.status_code == 401
        other = httpx.get(f"{base}/api/3rdparty/v1/messages", auth=(up.OTHER_LOGIN, up.OTHER_PASSWORD))
        assert other.status_code == 200 and other.json() == []  # the other user's phone never had a message

        # the Go server's JWTs: the live one still opens, the revoked one stays revoked
        for jti, status in ((up.LIVE_JTI, 200), (up.REVOKED_JTI, 401)):
            answer = httpx.get(f"{base}/api/3rdparty/v1/messages", headers={"Authorization": f"Bearer {_jwt(jti)}"})
            assert answer.status_code == status, answer.text

        pulled = _phone_round(base, up.DEVICE_TOKEN)
        assert {m["id"] for m in pulled} == {up.PENDING_ID, new.id}
        assert {m["id"]: sorted(m["phoneNumbers"]) for m in pulled}[up.PENDING_ID] == [up.PHONE, "+79990001133"]

        with sg.APIClient(up.LOGIN, up.PASSWORD, base_url=f"{base}/api/3rdparty/v1") as client:
            for message_id in (up.PENDING_ID, new.id):
                assert client.get_state(message_id).state is sg.ProcessState.Delivered
        assert _phone_round(base, up.OTHER_TOKEN) == []


def _phone_round(base: str, token: str) -> list[dict[str, Any]]:
    """A phone with its token from before the move: its settings and webhooks, one pull, a report of each message
    as delivered (tests/reliability/httpx_phone.py speaks the same protocol, under trio)."""
    with httpx.Client(base_url=base + MOBILE, headers={"Authorization": f"Bearer {token}"}) as phone:
        settings = phone.get("/settings")
        assert settings.status_code == 200, settings.text
        hooks = phone.get("/webhooks")
        assert hooks.status_code == 200, hooks.text
        if token == up.DEVICE_TOKEN:
            assert settings.json()["messages"]["send_interval_min"] == 5
            assert settings.json()["ping"] == {"interval_seconds": 60}
            assert {h["id"] for h in hooks.json()} == {"old-hook-all", "old-hook-dev"}
        pulled = phone.get("/message")
        assert pulled.status_code == 200, pulled.text
        messages: list[dict[str, Any]] = pulled.json()
        for message in messages:
            report = {"id": message["id"], "state": "Delivered",
                      "recipients": [{"phoneNumber": p, "state": "Delivered"} for p in message["phoneNumbers"]]}
            patched = phone.patch("/message", json=[report])
            assert patched.status_code == 204, patched.text
        return messages


def _poisoned_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy fails at the webhooks, after users, devices and messages went across."""
    real = adopt.copy_table

    def copy(conn: sa.Connection, source: str, table: str, columns: tuple[str, ...]) -> None:
        if table == "webhooks":
            raise RuntimeError("injected failure in the middle of the copy")
        real(conn, source, table, columns)

    monkeypatch.setattr(adopt, "copy_table", copy)


def _failing_rename(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one RENAME TABLE fails at its last pair, after upstream's tables and ours in the same statement: none of
    it takes effect."""
    real = adopt._swap_statement
    monkeypatch.setattr(adopt, "_swap_statement", lambda plan: real(plan) + f", `{plan.scratch}`.`no_such_table` "
                                                                          f"TO `{plan.database}`.`no_such_table`")


def _lost_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy comes out a row short: the count check before the switch stops it."""
    real = adopt.verify

    def verify(scratch: sa.Engine, engine: sa.Engine, plan: adopt.Plan) -> None:
        with scratch.begin() as conn:
            conn.execute(sa.text("DELETE FROM message_states WHERE message_id = 4"))
        real(scratch, engine, plan)

    monkeypatch.setattr(adopt, "verify", verify)


@pytest.mark.parametrize("failure", [_poisoned_copy, _failing_rename, _lost_rows])
def test_a_failure_in_the_middle_leaves_the_database_as_it_was(
        upstream_url: str, mariadb_server: str, monkeypatch: pytest.MonkeyPatch, failure: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    before = up.snapshot(upstream_url)
    scratch = sa.make_url(upstream_url).database + adopt.SCRATCH_SUFFIX  # type: ignore[operator]
    failure(monkeypatch)
    assert main(["db", "adopt", "--url", upstream_url]) == 1
    assert "was left as it was" in capsys.readouterr().err
    assert up.snapshot(upstream_url) == before  # same tables, same DDL, same rows
    assert scratch not in up.databases(mariadb_server)  # the scratch database is gone
    monkeypatch.undo()
    assert main(["db", "adopt", "--url", upstream_url]) == 0  # and it can be adopted afterwards


def test_a_plain_upgrade_refuses_the_go_servers_database(upstream_url: str) -> None:
    """What the server's start runs: it points to `db adopt` instead of building its tables beside upstream's."""
    before = up.snapshot(upstream_url)
    engine = create_engine(upstream_url)
    with pytest.raises(UpstreamDatabase, match="made by upstream.s Go server .* `smsgate-server db adopt`"):
        upgrade(engine)
    engine.dispose()
    assert main(["db", "upgrade", "--url", upstream_url]) == 1
    assert up.snapshot(upstream_url) == before


def test_refusals_name_what_was_found(upstream_url: str, mariadb_url: str, mariadb_server: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    def refused(url: str) -> str:
        assert main(["db", "adopt", "--url", url]) == 1
        return capsys.readouterr().err

    assert "already this server's database (alembic revision" in refused(mariadb_url)
    empty = _create_database(mariadb_server)
    try:
        assert "is empty: there is nothing to adopt" in refused(empty)
    finally:
        _drop_database(mariadb_server, empty)

    engine = sa.create_engine(upstream_url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO goose_db_version (version_id, is_applied) VALUES (20260617000000, 0)"))
    assert "goose version 20260507035019" in refused(upstream_url)  # upstream rolled its last migration back
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO goose_db_version (version_id, is_applied) VALUES (20260617000000, 1), "
                             "(20270101000000, 1)"))
    assert "goose version 20270101000000" in refused(upstream_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM goose_db_version WHERE version_id = 20270101000000"))
        conn.execute(sa.text("RENAME TABLE tokens TO tokens_elsewhere"))
    assert "lacks the tables tokens" in refused(upstream_url)
    with engine.begin() as conn:
        conn.execute(sa.text("RENAME TABLE tokens_elsewhere TO tokens"))
        conn.execute(sa.text("CREATE TABLE inbox (id int primary key)"))
    assert "already has tables named inbox" in refused(upstream_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE inbox"))
        conn.execute(sa.text("RENAME TABLE goose_db_version TO something_else"))
    assert "not made by the Go server: it has no `goose_db_version` table" in refused(upstream_url)
    engine.dispose()
