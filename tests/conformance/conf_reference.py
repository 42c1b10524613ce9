"""The reference server set up so that every conformance capability is reachable, and the suite run against it.

Two `smsgate-server` processes share nothing: a public one (JWT, FCM pointed at the suite's endpoint, the CA
mounted) and a private one (private token, upstream relay pointed at the suite's receiver). Backends: `sqlite`
(a file each), `mariadb` (a database each on 127.0.0.1:3306, Redis on 127.0.0.1:6379 for cache and pub/sub) or
`postgresql` (a database each on 127.0.0.1:5432, shared state in the database as with SQLite).

    python tests/conformance/conf_reference.py --backend sqlite -- --html report.html

`source` runs the server from another checkout (the mutation check does); `suite_command` runs the suite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from live_server import LiveServer, free_port  # noqa: E402

ROOT = HERE.parent.parent
MARIADB_ADMIN_URL = os.environ.get("SMSGATE_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
POSTGRES_ADMIN_URL = os.environ.get("SMSGATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = re.sub(r"/\d*$", "", os.environ.get("SMSGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
PRIVATE_TOKEN = "conformance-private-token"
JWT_SECRET = "conformance-" + "0123456789abcdef" * 3
# The suite sends wrong credentials on purpose (negative checks, schemathesis' ignored_auth): the default
# failed-login limit would turn the rest of the run into 429s.
# Likewise the CA's one accepted CSR a minute: the suite would wait out a minute per accepted CSR.
COMMON = {"JWT__SECRET": JWT_SECRET, "AUTH__FAILED_LOGIN_LIMIT": "0", "CA__RATE_LIMIT": "0", "LOG__LEVEL": "WARNING"}


@dataclass
class Targets:
    public: LiveServer
    private: LiveServer
    fcm_credentials: Path
    relay_listen: str
    also: LiveServer  # a second process of the public deployment (its database, cache and pub/sub)

    def suite_arguments(self) -> list[str]:
        return ["--server", self.public.base_url, "--server", self.also.base_url,
                "--private-server", self.private.base_url,
                "--private-token", PRIVATE_TOKEN, "--ca", self.public.base_url + "/api/ca/v1",
                "--fcm-credentials", str(self.fcm_credentials), "--relay-listen", self.relay_listen]


def _database(backend: str, workdir: Path, name: str, stack: contextlib.ExitStack) -> dict[str, str]:
    if backend == "sqlite":  # the processes of one deployment share their state through the database
        return {"DATABASE__URL": f"sqlite:///{workdir / name}.db", "CACHE__URL": "database://"}
    import sqlalchemy as sa

    database = f"smsgate_conf_{name}_{secrets.token_hex(4)}"
    postgresql = backend == "postgresql"
    admin_url = POSTGRES_ADMIN_URL if postgresql else MARIADB_ADMIN_URL
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")  # PostgreSQL: CREATE DATABASE outside BEGIN
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {database} ENCODING 'UTF8'" if postgresql else
                             f"CREATE DATABASE {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {database}" + (" WITH (FORCE)" if postgresql else "")))
        admin.dispose()

    stack.callback(drop)
    url = sa.make_url(admin_url).set(database=database).render_as_string(hide_password=False)
    if postgresql:  # shared state in the database: its PostgreSQL forms are exercised too
        return {"DATABASE__URL": url, "CACHE__URL": "database://"}
    redis_db = str(1 + secrets.randbelow(14))
    return {"DATABASE__URL": url, "CACHE__URL": f"{REDIS_URL}/{redis_db}", "PUBSUB__URL": f"{REDIS_URL}/{redis_db}"}


def _source_env(source: Path) -> dict[str, str]:
    return {} if source == ROOT else {"PYTHONPATH": str(source)}


@contextlib.contextmanager
def reference_targets(workdir: Path, backend: str = "sqlite", source: Path = ROOT) -> Iterator[Targets]:
    """Both servers running from `source`, stopped (and their MariaDB databases dropped) on exit."""
    with contextlib.ExitStack() as stack:
        fcm = f"http://127.0.0.1:{free_port()}"
        credentials = workdir / "fcm-credentials.json"
        subprocess.run([sys.executable, "-m", "conformance", "fcm-credentials", "--endpoint", fcm, "--out",
                        str(credentials)], check=True, cwd=ROOT)
        ca_dir = workdir / "ca"
        subprocess.run([sys.executable, "-m", "reference_server.ca", "init", "--dir", str(ca_dir)], check=True,
                       cwd=workdir, env={**os.environ, **_source_env(source)}, stdout=subprocess.DEVNULL)
        relay = f"127.0.0.1:{free_port()}"
        public_env = {
            **COMMON, **_source_env(source), **_database(backend, workdir, "public", stack),
            "GATEWAY__MODE": "public", "FCM__CREDENTIALS_JSON": credentials.read_text(), "FCM__ENDPOINT": fcm,
            "CA__ENABLED": "true", "CA__DIR": str(ca_dir)}
        public = LiveServer(workdir, env=public_env)
        also = LiveServer(workdir, env=public_env)
        private = LiveServer(workdir, env={
            **COMMON, **_source_env(source), **_database(backend, workdir, "private", stack),
            "GATEWAY__MODE": "private", "GATEWAY__PRIVATE_TOKEN": PRIVATE_TOKEN,
            "GATEWAY__UPSTREAM_URL": f"http://{relay}"})
        for server in (public, private, also):  # `also` after `public`: the database is migrated by then
            server.start(timeout=90)
            stack.callback(server.stop)
        yield Targets(public, private, credentials, relay, also)


@contextlib.contextmanager
def single_target(workdir: Path, **env: str) -> Iterator[LiveServer]:
    """One public-mode server on SQLite with `env` on top of the suite's usual settings (a value of "" drops it)."""
    settings = {**COMMON, "DATABASE__URL": f"sqlite:///{workdir / 'single'}.db", "GATEWAY__MODE": "public", **env}
    server = LiveServer(workdir, env={k: v for k, v in settings.items() if v != ""})
    server.start(timeout=90)
    try:
        yield server
    finally:
        server.stop()


def run_suite(server: LiveServer, report: Path, *options: str, timeout: float = 600) -> tuple[dict[str, Any], str]:
    """The suite against `server` alone: its JSON report and its terminal output."""
    done = subprocess.run([sys.executable, "-m", "conformance", "--server", server.base_url, "--json", str(report),
                           *options], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if not report.exists():
        raise AssertionError(f"no report (exit {done.returncode}): {done.stdout[-3000:]} {done.stderr[-3000:]}")
    return json.loads(report.read_text()), done.stdout


def suite_command(targets: Targets, *extra: str) -> list[str]:
    return [sys.executable, "-m", "conformance", *targets.suite_arguments(), *extra]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "mariadb", "postgresql"], default="sqlite")
    parser.add_argument("--installed", action="store_true",
                        help="run the installed `smsgate-conformance` from a scratch directory (not this checkout)")
    parser.add_argument("suite", nargs=argparse.REMAINDER, help="arguments for smsgate-conformance (after --)")
    args = parser.parse_args(argv)
    extra = [a for a in args.suite if a != "--"]
    with tempfile.TemporaryDirectory(prefix="smsgate-conformance-") as tmp, \
            reference_targets(Path(tmp), args.backend) as targets:
        print(json.dumps({"backend": args.backend, "public": targets.public.base_url,
                          "private": targets.private.base_url}), flush=True)
        if not args.installed:
            return subprocess.run(suite_command(targets, *extra), cwd=ROOT).returncode
        scratch = Path(tmp) / "cwd"
        scratch.mkdir()
        command = [shutil.which("smsgate-conformance") or "smsgate-conformance", *targets.suite_arguments(), *extra]
        status = subprocess.run(command, cwd=scratch).returncode
        left = sorted(p.name for p in scratch.iterdir())
        if left:  # a run must not leave state (e.g. .hypothesis/) in the user's working directory
            print(f"the run left {left} in its working directory", flush=True)
            return status or 1
        return status


if __name__ == "__main__":
    sys.exit(main())
