"""`smsgate-server db copy`: a deployment populated through the API moves SQLite -> PostgreSQL / MariaDB -> SQLite
row for row, a server on the copy serves the old credentials, an interrupted copy resumes, bad input exits 2."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from ca_testing import ca_client, ca_settings, make_csr
from conftest import Api, make_settings
from live_server import LiveServer
from rich.console import Console

from reference_server.app import create_app
from reference_server.ca.authority import init_root
from reference_server.cli import main
from reference_server.config import Settings
from reference_server.db_copy_cli import report
from reference_server.events.notifier import MemoryNotifier
from reference_server.storage.copy import CopyError, CopyResult, copy_database, data_tables
from reference_server.storage.database import create_engine
from reference_server.storage.migrate import upgrade
from reference_server.storage.tables import ca_requests, shared_state

JWT_SECRET = "copy-s3cret-copy-s3cret-copy-s3cret!"
PHONE = "+79990001122"
THIRDPARTY = "/api/3rdparty/v1"
MOBILE = "/api/mobile/v1"


@asynccontextmanager
async def _app(settings: Settings) -> AsyncIterator[Api]:
    """open_api as a context manager: an assertion failing inside leaves Trio's nurseries in order."""
    app = create_app(settings, notifier=MemoryNotifier())
    async with app.test_app():
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(client, MemoryNotifier(), app)


# --- a populated deployment -------------------------------------------------------------------------------
async def populate(tmp_path: Path, url: str, inbox_bulk: int = 0) -> dict[str, Any]:
    """Everything a deployment holds, made through the APIs: a user with a phone, messages in several states
    with their history, a webhook, settings, JWTs (one revoked), the inbox with an attachment, a CA request."""
    settings = make_settings(tmp_path, url, JWT__SECRET=JWT_SECRET)
    async with _app(settings) as api:
        user = await api.register()
        auth = (user["login"], user["password"])
        device = {"Authorization": f"Bearer {user['token']}"}
        ids = []
        for n in range(5):
            sent = await api.send(user, {"textMessage": {"text": f"hello {n}"}, "phoneNumbers": [PHONE, "+79990003344"],
                                         "deviceId": user["id"], "withDeliveryReport": True})
            assert sent.status_code == 202, sent.text
            ids.append(sent.json()["id"])
        pulled = await api.client.get(f"{MOBILE}/message", headers=device)
        assert pulled.status_code == 200 and len(pulled.json()) == 5
        reports = [{"id": ids[0], "state": "Delivered",
                    "recipients": [{"phoneNumber": PHONE, "state": "Delivered"},
                                   {"phoneNumber": "+79990003344", "state": "Sent"}]},
                   {"id": ids[1], "state": "Failed",
                    "recipients": [{"phoneNumber": PHONE, "state": "Failed", "error": "no signal"}]}]
        assert (await api.client.patch(f"{MOBILE}/message", headers=device, json=reports)).status_code == 204
        hook = await api.client.post(f"{THIRDPARTY}/webhooks", auth=auth,
                                     json={"url": "https://example.com/hook", "event": "sms:received"})
        assert hook.status_code == 201, hook.text
        assert (await api.client.patch(f"{THIRDPARTY}/settings", auth=auth,
                                       json={"messages": {"limitPeriod": "PerDay", "limitValue": 50}})).status_code \
            == 200
        tokens = []
        for _ in range(2):
            issued = await api.client.post(f"{THIRDPARTY}/auth/token", auth=auth,
                                           json={"scopes": ["messages:list", "messages:send"]})
            assert issued.status_code == 201, issued.text
            tokens.append(issued.json()["access_token"])
        revoked = await api.client.post(f"{THIRDPARTY}/auth/token", auth=auth, json={"scopes": ["messages:list"]})
        assert (await api.client.delete(f"{THIRDPARTY}/auth/token/{revoked.json()['id']}", auth=auth)).status_code \
            == 204
        picture = bytes(range(256)) * 3
        inbox = [{"id": "in-1", "type": "SMS", "sender": PHONE, "content": "sealed-1", "isEncrypted": True,
                  "createdAt": "2026-10-01T09:00:00.250Z"},
                 {"id": "in-2", "type": "MMS", "sender": PHONE, "content": "sealed-2", "isEncrypted": True,
                  "createdAt": "2026-10-01T09:00:01Z", "attachments": [
                      {"partId": 7, "contentType": "image/png", "name": "cat.png", "size": len(picture),
                       "data": base64.b64encode(picture).decode()}]}]
        inbox += [{"id": f"bulk-{n}", "type": "SMS", "sender": PHONE, "content": "sealed", "isEncrypted": True,
                   "createdAt": "2026-10-02T09:00:00Z"} for n in range(inbox_bulk)]
        uploaded = await api.client.post(f"{MOBILE}/inbox", headers=device, json=inbox)
        assert uploaded.status_code in (200, 201, 202, 204), uploaded.text
    root = tmp_path / "ca-root"
    init_root(root, key_type="ec")
    async with ca_client(ca_settings(tmp_path, DATABASE__URL=url), root) as (client, _service):
        assert (await client.post("/csr", json={"content": make_csr()})).status_code == 202
    return {"user": user, "ids": ids, "token": tokens[0], "revoked": revoked.json()["access_token"]}


def rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every copied table, in key order (compared as text: PostgreSQL sorts enums in their order)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {table.name: sorted((dict(row._mapping) for row in conn.execute(sa.select(table))),
                                       key=lambda row, t=table: [str(row[c.name]) for c in t.primary_key.columns])
                    for table in data_tables()}
    finally:
        engine.dispose()


def assert_same(source: str, target: str) -> None:
    expected, actual = rows(source), rows(target)
    for name, table_rows in expected.items():
        assert actual[name] == table_rows, name
    assert all(expected[name] for name in ("users", "devices", "messages", "message_recipients", "message_states",
                                           "message_counts", "webhooks", "device_settings", "tokens", "inbox",
                                           "inbox_attachments", "ca_requests"))


# --- databases --------------------------------------------------------------------------------------------
@pytest.fixture
def source_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'source.db'}"


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "__" not in k and k != "CONFIG_PATH"}
    return subprocess.run([sys.executable, "-m", "reference_server", "db", "copy", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


# --- the round trip ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", [pytest.param("postgres", marks=pytest.mark.postgresql),
                                    pytest.param("mariadb", marks=pytest.mark.mariadb)])
async def test_a_deployment_moves_there_and_back_and_keeps_working(
        tmp_path: Path, source_url: str, target: str, request: pytest.FixtureRequest) -> None:
    made = await populate(tmp_path, source_url)
    middle = str(request.getfixturevalue("fresh_postgres_url" if target == "postgres" else "fresh_mariadb_url"))
    copied = run_cli(tmp_path, "--from", source_url, "--to", middle, "--batch-size", "3")
    assert copied.returncode == 0, copied.stderr
    assert "every table's count matches" in copied.stdout
    assert_same(source_url, middle)
    back = f"sqlite:///{tmp_path / 'back.db'}"
    result = copy_database(middle, back, batch_size=4)
    assert result.matches and not result.resumed
    assert_same(source_url, back)
    check_serves_old_credentials(tmp_path, middle, made)


def check_serves_old_credentials(tmp_path: Path, url: str, made: dict[str, Any]) -> None:
    user = made["user"]
    env = {"DATABASE__URL": url, "JWT__SECRET": JWT_SECRET}
    with LiveServer(tmp_path, env=env) as live, httpx.Client(base_url=live.base_url, timeout=10) as client:
        auth = (user["login"], user["password"])
        listed = client.get(f"{THIRDPARTY}/messages", auth=auth)
        assert listed.status_code == 200, listed.text
        assert {m["id"] for m in listed.json()} == set(made["ids"])
        by_jwt = client.get(f"{THIRDPARTY}/messages", headers={"Authorization": f"Bearer {made['token']}"})
        assert by_jwt.status_code == 200 and len(by_jwt.json()) == 5
        # the new message takes a fresh id after the copied ones (PostgreSQL's sequences were moved on)
        sent = client.post(f"{THIRDPARTY}/messages", headers={"Authorization": f"Bearer {made['token']}"},
                           json={"textMessage": {"text": "after the move"}, "phoneNumbers": [PHONE]})
        assert sent.status_code == 202, sent.text
        phone = {"Authorization": f"Bearer {user['token']}"}
        pulled = client.get(f"{MOBILE}/message", headers=phone)
        assert pulled.status_code == 200, pulled.text
        assert {m["id"] for m in pulled.json()} == {*made["ids"][2:], sent.json()["id"]}  # the unreported ones too
        reported = client.patch(f"{MOBILE}/message", headers=phone, json=[
            {"id": sent.json()["id"], "state": "Sent", "recipients": [{"phoneNumber": PHONE, "state": "Sent"}]}])
        assert reported.status_code == 204, reported.text
        state = client.get(f"{THIRDPARTY}/messages/{sent.json()['id']}", auth=auth)
        assert state.json()["state"] == "Sent"
        revoked = client.get(f"{THIRDPARTY}/messages", headers={"Authorization": f"Bearer {made['revoked']}"})
        assert revoked.status_code == 401, revoked.text  # its revocation was copied too


# --- interruption and resume ------------------------------------------------------------------------------
class StopAfter:
    """A progress sink that interrupts the copy after `batches` batches, as Ctrl-C would."""

    def __init__(self, batches: int) -> None:
        self.left = batches

    def table(self, name: str, total: int, done: int) -> None:
        pass

    def advance(self, name: str, rows: int) -> None:
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt


async def test_an_interrupted_copy_resumes_to_an_exact_copy(tmp_path: Path, source_url: str) -> None:
    await populate(tmp_path, source_url)
    target = f"sqlite:///{tmp_path / 'target.db'}"
    with pytest.raises(KeyboardInterrupt):
        copy_database(source_url, target, batch_size=2, progress=StopAfter(7))
    partial = rows(target)
    assert 0 < sum(map(len, partial.values())) < sum(map(len, rows(source_url).values()))
    resumed = run_cli(tmp_path, "--from", source_url, "--to", target, "--batch-size", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and "(resumed)" in resumed.stdout
    assert_same(source_url, target)
    engine = create_engine(target)
    with engine.connect() as conn:  # the marker of the copy under way is gone
        assert conn.execute(sa.select(sa.func.count()).select_from(shared_state)).scalar() == 0
    engine.dispose()
    with pytest.raises(CopyError, match="target is not empty"):  # finished: no second copy on top
        copy_database(source_url, target)


@pytest.mark.postgresql
async def test_a_copy_into_postgres_interrupted_again_and_again_ends_exact(
        tmp_path: Path, source_url: str, fresh_postgres_url: str) -> None:
    await populate(tmp_path, source_url)
    done: CopyResult | None = None
    for _attempt in range(40):  # four one-row batches per attempt: most tables stop half-way at least once
        try:
            done = copy_database(source_url, fresh_postgres_url, batch_size=1, progress=StopAfter(4))
            break
        except KeyboardInterrupt:
            continue
    assert done is not None and done.matches
    assert_same(source_url, fresh_postgres_url)


def kill_half_way(tmp_path: Path, source_url: str, target_url: str) -> None:
    """Start a copy of one row per batch, SIGKILL it once the target holds 20 inbox rows."""
    env = {k: v for k, v in os.environ.items() if "__" not in k and k != "CONFIG_PATH"}
    command = [sys.executable, "-m", "reference_server", "db", "copy", "--from", source_url, "--to",
               target_url, "--batch-size", "1"]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = create_engine(target_url)
    try:
        copied = 0
        deadline = time.monotonic() + 60
        while copied < 20 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
            try:
                with target.connect() as conn:
                    copied = conn.execute(sa.text("SELECT count(*) FROM inbox")).scalar() or 0
            except sa.exc.ProgrammingError:  # not migrated yet
                pass
        process.kill()  # SIGKILL half-way through the inbox: no cleanup of any kind
        process.wait(10)
        assert 20 <= copied and process.returncode == -9
    finally:
        target.dispose()


@pytest.mark.postgresql
async def test_a_killed_copy_resumes_to_an_exact_copy(tmp_path: Path, source_url: str,
                                                      fresh_postgres_url: str) -> None:
    await populate(tmp_path, source_url, inbox_bulk=900)
    kill_half_way(tmp_path, source_url, fresh_postgres_url)
    assert len(rows(fresh_postgres_url)["inbox"]) < len(rows(source_url)["inbox"])
    resumed = run_cli(tmp_path, "--from", source_url, "--to", fresh_postgres_url, "--batch-size", "500")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    assert_same(source_url, fresh_postgres_url)


class WriteToSource:
    """A server still writing to the source: a CA request appears once the copy is past that table."""

    def __init__(self, source_url: str) -> None:
        self.source_url = source_url

    def table(self, name: str, total: int, done: int) -> None:
        if name != "messages":
            return
        engine = create_engine(self.source_url)
        moment = datetime(2026, 12, 1, 10, 0, 0)
        with engine.begin() as conn:
            # "-" is the lowest character of the ids' alphabet: the new row sorts before the stored one whatever
            # its random id ("0" * 21 did not when that id began with "-").
            conn.execute(ca_requests.insert().values(id="-" * 21, type="webhook", status="pending", content="csr",
                                                     expires_at=moment, created_at=moment, updated_at=moment))
        engine.dispose()

    def advance(self, name: str, rows: int) -> None:
        pass


async def test_a_source_written_during_the_copy_fails_the_count(tmp_path: Path, source_url: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    await populate(tmp_path, source_url)
    target = f"sqlite:///{tmp_path / 'target.db'}"
    result = copy_database(source_url, target, progress=WriteToSource(source_url))
    assert [(c.name, c.source - c.target) for c in result.counts if not c.matches] == [("ca_requests", 1)]
    assert report(Console(file=io.StringIO()), result) == 1
    assert "counts differ in ca_requests" in capsys.readouterr().err
    # the new row sorts first: the target is no longer a prefix of the source, and a rerun says so
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.chdir(tmp_path)
    try:
        assert main(["db", "copy", "--from", source_url, "--to", target]) == 2
        assert "the source changed since the copy was interrupted" in capsys.readouterr().err
        assert main(["db", "copy", "--from", source_url, "--to", target, "--force"]) == 0
    finally:
        monkeypatch.undo()
    assert_same(source_url, target)


# --- refusals ---------------------------------------------------------------------------------------------
async def test_a_non_empty_target_is_refused_unless_forced(tmp_path: Path, source_url: str,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    await populate(tmp_path, source_url)
    target = f"sqlite:///{tmp_path / 'target.db'}"
    async with _app(make_settings(tmp_path, target)) as api:
        await api.register()  # a deployment of its own
    before = rows(target)
    monkeypatch.chdir(tmp_path)
    assert main(["db", "copy", "--from", source_url, "--to", target]) == 2
    refused = capsys.readouterr().err
    assert "target is not empty (rows in users, devices)" in refused and "--force" in refused
    assert rows(target) == before
    assert main(["db", "copy", "--from", source_url, "--to", target, "--force"]) == 0
    assert_same(source_url, target)


def test_bad_input_exits_2_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # no config.yml or .env of the checkout
    source = tmp_path / "source.db"
    engine = create_engine(f"sqlite:///{source}")
    upgrade(engine)
    engine.dispose()
    old = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{old}")
    upgrade(engine, "0006")
    engine.dispose()
    target = f"sqlite:///{tmp_path / 'target.db'}"
    cases = {
        "same": (["--from", f"sqlite:///{source}", "--to", f"sqlite:///{tmp_path}/../{tmp_path.name}/source.db"],
                 "same database"),
        "same, spelled twice": (["--from", "mysql+pymysql://root@127.0.0.1/smsgate", "--to",
                                 "mariadb+pymysql://root:hunter2@127.0.0.1:3306/smsgate"], "same database"),
        "driver": (["--from", f"sqlite:///{source}", "--to", "postgresql+nosuchdriver://h/db"],
                   "unsupported database driver"),
        "scheme": (["--from", f"sqlite:///{source}", "--to", "oracle+cx://u:p@h/db"], "unsupported database"),
        "not a URL": (["--from", "nonsense", "--to", target], "not a database URL"),
        "unreachable": (["--from", f"sqlite:///{source}", "--to", "mysql+pymysql://root:hunter2@127.0.0.1:1/x"],
                        "cannot connect"),
        "missing file": (["--from", f"sqlite:///{tmp_path / 'absent.db'}", "--to", target], "no SQLite database"),
        "old source": (["--from", f"sqlite:///{old}", "--to", target], "not at"),
        "batch size": (["--from", f"sqlite:///{source}", "--to", target, "--batch-size", "0"], "at least 1"),
    }
    for name, (args, message) in cases.items():
        code = main(["db", "copy", *args])  # raising would fail the test: no traceback reaches the operator
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        assert message in err and "hunter2" not in err, (name, err)
    assert not (tmp_path / "target.db").exists()  # nothing was created where the copy was refused
