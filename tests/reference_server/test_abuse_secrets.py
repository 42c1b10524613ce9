"""Secrets never reach the logs: a real server at DEBUG level, SQL echo on, Redis with a password, goes through
registration, logins right and wrong, JWTs, one-time codes, a password change and a Redis restart; then no
password, token, private token, JWT, password hash, one-time code or Redis password appears in its log."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import trio
from live_server import LiveServer
from private_services import PrivateRedis

from reference_server.events.redis_pubsub import redacted

pytestmark = [pytest.mark.slow, pytest.mark.redis]

PRIVATE_TOKEN = "private-token-that-must-stay-secret"
JWT_SECRET = "jwt-secret-that-must-stay-secret-0123456789"
REDIS_PASSWORD = "redis-password-that-must-stay-secret"
NEW_PASSWORD = "new-password-that-must-stay-secret"
TP = "/api/3rdparty/v1"
MB = "/api/mobile/v1"


def test_redis_urls_are_redacted() -> None:
    assert redacted("redis://:pw@host:6379/0") == "redis://:***@host:6379/0"
    assert redacted("rediss://user:pw@host/1") == "rediss://user:***@host/1"
    assert redacted("redis://host:6379/0") == "redis://host:6379/0"


async def test_no_secret_in_the_log(tmp_path: Path) -> None:
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    redis_server = PrivateRedis(redis_dir, password=REDIS_PASSWORD)
    await trio.to_thread.run_sync(redis_server.start)
    database = tmp_path / "smsgate.db"
    server = LiveServer(tmp_path, env={
        "DATABASE__URL": f"sqlite:///{database}", "DATABASE__DEBUG": "true", "LOG__LEVEL": "DEBUG",
        "GATEWAY__MODE": "private", "GATEWAY__PRIVATE_TOKEN": PRIVATE_TOKEN, "JWT__SECRET": JWT_SECRET,
        "PUBSUB__URL": redis_server.url})
    secrets = [PRIVATE_TOKEN, JWT_SECRET, REDIS_PASSWORD, NEW_PASSWORD]
    try:
        await trio.to_thread.run_sync(server.start)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            private = {"Authorization": f"Bearer {PRIVATE_TOKEN}"}
            user = (await http.post(f"{MB}/device", json={"name": "p"}, headers=private)).json()
            auth = (user["login"], user["password"])
            device = {"Authorization": f"Bearer {user['token']}"}
            secrets += [user["password"], user["token"]]
            wrong = await http.post(f"{MB}/device", json={}, headers={"Authorization": "Bearer wrong"})
            assert wrong.status_code == 401
            assert (await http.get(f"{TP}/devices", auth=(user["login"], "wrong-pass"))).status_code == 401
            sent = await http.post(f"{TP}/messages", auth=auth,
                                   json={"textMessage": {"text": "hi"}, "phoneNumbers": ["+79990001122"]})
            assert sent.status_code == 202
            assert (await http.get(f"{MB}/message", headers=device)).status_code == 200
            tokens = (await http.post(f"{TP}/auth/token", auth=auth, json={"scopes": ["all:any"]})).json()
            secrets += [tokens["access_token"], tokens["refresh_token"]]
            assert (await http.get(f"{TP}/devices", headers={
                "Authorization": f"Bearer {tokens['access_token']}"})).status_code == 200
            refreshed = (await http.post(f"{TP}/auth/token/refresh", headers={
                "Authorization": f"Bearer {tokens['refresh_token']}"})).json()
            secrets += [refreshed["access_token"], refreshed["refresh_token"]]
            code = (await http.get(f"{MB}/user/code", auth=auth)).json()["code"]
            joined = (await http.post(f"{MB}/device", json={"name": "second"},
                                      headers={"Authorization": f"Code {code}"})).json()
            secrets += [code, joined["token"]]
            changed = await http.patch(f"{MB}/user/password", headers=device,
                                       json={"currentPassword": user["password"], "newPassword": NEW_PASSWORD})
            assert changed.status_code == 204
            await trio.to_thread.run_sync(redis_server.kill)  # connection-loss logs name the server
            await trio.sleep(0.5)
            await trio.to_thread.run_sync(redis_server.start)
            await trio.sleep(1)
    finally:
        await trio.to_thread.run_sync(server.stop)
        await trio.to_thread.run_sync(redis_server.remove)
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        hashes = [row[0] for row in conn.execute(sa.text("SELECT password_hash FROM users"))]
    engine.dispose()
    assert hashes and all(h.startswith("$2b$10$") for h in hashes), hashes  # Go's default cost, as upstream
    secrets += hashes
    log = server.log()
    assert "SELECT" in log and "Redis" in log  # the log did record the SQL and the Redis trouble
    leaked = [secret[:8] + "…" for secret in secrets if secret in log]
    assert not leaked, f"secrets in the log: {leaked}"
