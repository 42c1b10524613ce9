"""`smsgate-ca init`, `serve` and `webhooks` as real processes; openssl checks the certificate; a real TLS
handshake on loopback with a client that trusts only our root and checks the hostname 192.168.1.10."""

from __future__ import annotations

import functools
import os
import ssl
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import trio
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve
from live_server import free_port

from reference_server.ca.authority import init_root

pytestmark = pytest.mark.slow
IP = "192.168.1.10"


def smsgate_ca(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reference_server.ca", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if "__" not in k and k not in ("CONFIG_PATH", "ASG_CA_ENDPOINT", "ASG_CA_TIMEOUT")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


@dataclass(frozen=True)
class Issued:
    workdir: Path
    root: Path
    cert: Path
    key: Path
    webhooks_run: subprocess.CompletedProcess[str]
    second_run: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Issued:
    workdir = tmp_path_factory.mktemp("ca-processes")
    init = smsgate_ca("init", "--dir", "ca", cwd=workdir)
    assert init.returncode == 0, init.stderr
    port = free_port()
    log = (workdir / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "reference_server.ca", "serve", "--dir", "ca",
                               "--listen", f"127.0.0.1:{port}"], cwd=workdir, env=_env(), stdout=log,
                              stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (workdir / "serve.log").read_text()
            try:
                if httpx.get(f"{endpoint}/csr/ready", timeout=1).status_code == 404:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "smsgate-ca serve did not start"
            time.sleep(0.1)
        first = smsgate_ca("webhooks", IP, "--endpoint", endpoint, cwd=workdir)
        second = smsgate_ca("webhooks", IP, "--endpoint", endpoint, "--out", "again.crt", "--keyout", "again.key",
                            cwd=workdir)
    finally:
        server.terminate()
        server.wait(15)
        log.close()
    return Issued(workdir, workdir / "ca" / "ca.crt", workdir / "server.crt", workdir / "server.key", first, second)


def test_webhooks_command_succeeds(issued: Issued) -> None:
    assert issued.webhooks_run.returncode == 0, issued.webhooks_run.stderr
    assert "Certificate saved to server.crt" in issued.webhooks_run.stdout
    assert "Private key saved to server.key" in issued.webhooks_run.stdout


def test_second_request_within_a_minute_is_rate_limited(issued: Issued) -> None:
    assert issued.second_run.returncode == 2
    assert "429 too many requests" in issued.second_run.stderr
    assert not (issued.workdir / "again.crt").exists()


def test_openssl_verifies_the_chain(issued: Issued) -> None:
    result = subprocess.run(["openssl", "verify", "-CAfile", str(issued.root), "-purpose", "sslserver",
                             str(issued.cert)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{issued.cert}: OK"
    text = subprocess.run(["openssl", "x509", "-in", str(issued.cert), "-noout", "-text"], capture_output=True,
                          text=True, timeout=30, check=True).stdout
    assert f"IP Address:{IP}" in text and "TLS Web Server Authentication" in text and "CA:FALSE" in text


def test_certificate_fields_and_file_modes(issued: Issued) -> None:
    leaf = x509.load_pem_x509_certificate(issued.cert.read_bytes())
    root = x509.load_pem_x509_certificate(issued.root.read_bytes())
    assert leaf.subject.rfc4514_string() == f"CN={IP}"
    assert leaf.issuer == root.subject
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == [IP] and len(list(san)) == 1
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH]
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(days=365)
    assert abs(leaf.not_valid_before_utc - datetime.now(UTC)) < timedelta(minutes=5)
    assert leaf.serial_number >> 120 == 1  # webhook
    assert stat.S_IMODE(issued.cert.stat().st_mode) == 0o600
    assert stat.S_IMODE(issued.key.stat().st_mode) == 0o400
    assert issued.key.read_text().startswith("-----BEGIN EC PRIVATE KEY-----")
    assert stat.S_IMODE((issued.root.parent / "ca.key").stat().st_mode) == 0o600


async def _hello(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    """The smallest ASGI app: a lifespan that does nothing, and one text answer."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"14")]})
    await send({"type": "http.response.body", "body": b"hello over TLS"})


async def _handshake(port: int, context: ssl.SSLContext, hostname: str) -> bytes:
    stream = trio.SSLStream(await trio.open_tcp_stream("127.0.0.1", port), context, server_hostname=hostname)
    await stream.do_handshake()
    assert stream.getpeercert()["subjectAltName"] == (("IP Address", hostname),)
    await stream.send_all(f"GET / HTTP/1.1\r\nHost: {hostname}\r\nConnection: close\r\n\r\n".encode())
    received = b""
    try:
        while chunk := await stream.receive_some():
            received += chunk
    except trio.BrokenResourceError:  # a peer closing without close_notify
        pass
    await stream.aclose()
    return received


async def test_tls_handshake_trusting_only_our_root(issued: Issued, tmp_path: Path) -> None:
    config = HypercornConfig()
    config.bind = ["127.0.0.1:0"]
    config.certfile, config.keyfile = str(issued.cert), str(issued.key)
    config.graceful_timeout = 1
    init_root(tmp_path / "stranger", key_type="ec")  # another CA: its root must not vouch for our leaf
    stranger_root = tmp_path / "stranger" / "ca.crt"
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(functools.partial(hypercorn_serve, _hello, config,  # type: ignore[arg-type]
                                                      shutdown_trigger=shutdown.wait))
        assert binds[0].startswith("https://127.0.0.1:")
        port = int(binds[0].rsplit(":", 1)[1])
        trusted = ssl.create_default_context(cafile=str(issued.root))  # our root only: no system CAs
        assert trusted.check_hostname and trusted.verify_mode == ssl.CERT_REQUIRED
        assert len(trusted.get_ca_certs()) == 1

        answer = await _handshake(port, trusted, IP)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello over TLS")

        with pytest.raises(trio.BrokenResourceError) as wrong_host:
            await _handshake(port, trusted, "192.168.1.11")
        assert isinstance(wrong_host.value.__cause__, ssl.SSLCertVerificationError)
        assert "IP address mismatch" in str(wrong_host.value.__cause__)

        with pytest.raises(trio.BrokenResourceError) as untrusted:
            await _handshake(port, ssl.create_default_context(cafile=str(stranger_root)), IP)
        assert isinstance(untrusted.value.__cause__, ssl.SSLCertVerificationError)
        shutdown.set()
