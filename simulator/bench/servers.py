"""Servers under test, started as processes of their own: `smsgate-server serve` (SQLite or MariaDB, one
process or several) and the minimal quart-trio route that is its ceiling."""

from __future__ import annotations

import base64
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from .procs import Proc, wait_http

MOBILE = "/api/mobile/v1"


@dataclass
class Account:
    login: str
    password: str
    device_id: str
    token: str

    @property
    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.login}:{self.password}".encode()).decode()


def reference_server(name: str, workdir: Path, port: int, *, workers: int = 1, database_url: str = "",
                     env: dict[str, str] | None = None) -> Proc:
    """`smsgate-server serve` on its defaults (SQLite ./smsgate.db in `workdir`) or on `database_url`."""
    workdir.mkdir(parents=True, exist_ok=True)
    variables = {"HTTP__LISTEN": f"127.0.0.1:{port}", "LOG__LEVEL": "WARNING", **(env or {})}
    if database_url:
        variables["DATABASE__URL"] = database_url
    argv = [sys.executable, "-m", "reference_server", "serve", "--workers", str(workers)]
    proc = Proc(name, argv, workdir, variables).start()
    wait_http(proc, f"http://127.0.0.1:{port}/health/ready")
    return proc


def minimal_server(name: str, workdir: Path, port: int, workers: int = 1) -> Proc:
    workdir.mkdir(parents=True, exist_ok=True)
    proc = Proc(name, [sys.executable, "-m", "simulator.bench.minimal", f"127.0.0.1:{port}", str(workers)],
                workdir).start()
    wait_http(proc, f"http://127.0.0.1:{port}/health")
    return proc


def register(base_url: str, authorization: str | None = None, name: str = "bench") -> Account:
    """A phone registers (anonymously: a new account; with Basic: it joins that account)."""
    headers = {"Authorization": authorization} if authorization else {}
    answer = httpx.post(base_url + MOBILE + "/device", json={"name": name}, headers=headers, timeout=30)
    answer.raise_for_status()
    body = answer.json()
    return Account(body.get("login", ""), body.get("password", ""), body["id"], body["token"])


def fresh_mariadb(url: str) -> str | None:
    """Drop and create the bench database; None when it is ready, else why it is not usable."""
    try:
        import pymysql
        from sqlalchemy import make_url
    except ImportError as exc:  # pragma: no cover - both are dependencies of the server
        return f"{exc}"
    parsed = make_url(url)
    try:
        connection = pymysql.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 3306,
                                     user=parsed.username or "root", password=parsed.password or "",
                                     connect_timeout=3)
    except pymysql.MySQLError as exc:
        return f"MariaDB not reachable at {parsed.host}:{parsed.port or 3306}: {exc.args[-1] if exc.args else exc}"
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{parsed.database}`")
            cursor.execute(f"CREATE DATABASE `{parsed.database}` CHARACTER SET utf8mb4")
        connection.commit()
    finally:
        connection.close()
    return None
