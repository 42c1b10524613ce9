"""MariaDB and Redis servers of a test's own, that the test may stop, freeze or kill.

The machine's shared servers (127.0.0.1:3306 and :6379) serve everyone's tests at once and must never be
touched by a fault test; these do the faults instead. They listen on a Unix socket in a directory of their
own, not on a TCP port: a port freed while a server is down could be taken by another test's server (suites run
side by side), and the server under test would then carry on against a stranger's database. Without the
binaries a test skips, except with CI=true, where it fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pymysql
import pytest
import redis
from conftest import unavailable


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}")
                                            if os.access(p, os.X_OK)), None)
        if found:
            return found
    unavailable(f"none of {', '.join(names)} is installed (apt-get install mariadb-server redis-server)")


class _Process:
    """A child server process with a log file; stop (SIGTERM), kill (SIGKILL), freeze (SIGSTOP), thaw (SIGCONT)."""

    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        # a short directory of its own: a socket path must stay under 108 bytes
        self.socket_dir = Path(tempfile.mkdtemp(prefix="smsgate-", dir="/tmp" if Path("/tmp").is_dir() else None))
        self.socket = self.socket_dir / f"{self.name}.sock"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.log_path = workdir / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 30) -> None:
        assert not self.running
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed when the process ends
        self.process = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
            if self.ready():
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.name} did not start within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self, timeout: float = 30) -> None:
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGCONT)  # a frozen server cannot shut down
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._close()

    def kill(self) -> None:
        if self.running:
            assert self.process is not None
            self.process.kill()
            self.process.wait(10)
        self._close()

    def freeze(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def remove(self) -> None:
        """Stop for good and remove the socket's directory."""
        self.stop()
        shutil.rmtree(self.socket_dir, ignore_errors=True)


class PrivateMariaDB(_Process):
    """`mariadbd` on a data directory of its own; root without a password (grant tables skipped)."""

    name = "mariadb"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.server = _binary("mariadbd", "mysqld")
        self.datadir = workdir / "data"
        install = _binary("mariadb-install-db", "mysql_install_db")
        result = subprocess.run([install, "--no-defaults", f"--datadir={self.datadir}",
                                 "--auth-root-authentication-method=normal", "--skip-test-db"],
                                capture_output=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {result.stdout.decode()}{result.stderr.decode()}")

    def command(self) -> list[str]:
        command = [self.server, "--no-defaults", f"--datadir={self.datadir}", "--skip-networking",
                   f"--socket={self.socket}", "--skip-grant-tables",
                   f"--pid-file={self.workdir / 'mariadb.pid'}", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
                   "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci"]
        if os.geteuid() == 0:
            command.append("--user=root")  # mariadbd refuses to run as root otherwise
        return command

    def ready(self) -> bool:
        try:
            pymysql.connect(unix_socket=str(self.socket), user="root", connect_timeout=1).close()
            return True
        except pymysql.MySQLError:
            return False

    def create_database(self, name: str = "smsgate") -> str:
        """Creates the database and returns its SQLAlchemy URL."""
        connection = pymysql.connect(unix_socket=str(self.socket), user="root", connect_timeout=5)
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 "
                               "COLLATE utf8mb4_unicode_ci")
        finally:
            connection.close()
        return self.url(name)

    def url(self, name: str = "smsgate") -> str:
        return f"mysql+pymysql://root@localhost/{name}?unix_socket={self.socket}&charset=utf8mb4"

    def query(self, sql: str, database: str = "smsgate") -> list[tuple[object, ...]]:
        connection = pymysql.connect(unix_socket=str(self.socket), user="root", database=database,
                                     connect_timeout=5)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall())
        finally:
            connection.close()


class PrivateRedis(_Process):
    name = "redis"

    def __init__(self, workdir: Path, password: str = "") -> None:
        super().__init__(workdir)
        self.server = _binary("redis-server")
        self.password = password

    def command(self) -> list[str]:
        command = [self.server, "--port", "0", "--unixsocket", str(self.socket), "--save", "", "--appendonly", "no",
                   "--dir", str(self.workdir)]
        return command + (["--requirepass", self.password] if self.password else [])

    def ready(self) -> bool:
        client = redis.Redis(unix_socket_path=str(self.socket), password=self.password or None,
                             socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    @property
    def url(self) -> str:
        secret = f":{self.password}@" if self.password else ""
        return f"unix://{secret}{self.socket}?db=0"


@pytest.fixture
def private_mariadb(tmp_path: Path) -> Iterator[PrivateMariaDB]:
    workdir = tmp_path / "mariadb"
    workdir.mkdir()
    server = PrivateMariaDB(workdir)
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = PrivateRedis(workdir)
    server.start()
    try:
        yield server
    finally:
        server.remove()
