"""`smsgate-ca` in-process: help, exit codes, messages, polling against a fake CA, the output files."""

from __future__ import annotations

import ipaddress
import json
import stat
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from live_server import free_port

from reference_server.ca import cli
from reference_server.ca.client import (
    ClientError,
    OutputError,
    ParamsError,
    build_csr,
    error_message,
    new_key,
    private_ip,
    request_certificate,
    write_outputs,
)
from reference_server.ca.validation import validate_csr


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # output files and .env land here
    for name in ("ASG_CA_ENDPOINT", "ASG_CA_TIMEOUT", "CONFIG_PATH"):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exit_:  # argparse: --help and usage errors
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for text in ("init --dir", "serve --dir", "webhooks 192.168.1.10", "private 192.168.1.10", "user CA",
                 "ASG_CA_ENDPOINT", "Exit codes: 0 done, 1 bad parameters, 2 CA unreachable", "4 internal"):
        assert text in " ".join(out.split()), text
    code, out, _ = run(capsys, "webhooks", "--help")
    assert code == 0
    for flag in ("--endpoint", "--out", "--keyout", "--timeout", "server.crt", "server.key", "0400"):
        assert flag in out


@pytest.mark.parametrize(("argv", "message"), [
    ((), "usage: smsgate-ca"),
    (("frobnicate",), "invalid choice"),
    (("webhooks",), "the following arguments are required: ip"),
    (("webhooks", "8.8.8.8"), "8.8.8.8 is a public address, and the CA certifies only private LAN addresses"),
    (("wh", "127.0.0.1"), "127.0.0.1 is a loopback address"),
    (("p", "169.254.3.4"), "169.254.3.4 is a link-local address"),
    (("private", "100.64.1.1"), "100.64.1.1 is a shared (carrier-grade NAT) address"),
    (("webhooks", "192.168.1.300"), "'192.168.1.300' is not an IP address"),
    (("webhooks", "192.168.1.10", "--timeout", "0"), "--timeout expects a positive duration"),
    (("webhooks", "192.168.1.10", "--endpoint", "ca.lan:8443"), "--endpoint expects an http:// or https:// URL"),
    (("serve",), "which CA? Give --dir DIR"),
    (("serve", "--dir", "nothing-here"), "no CA root in nothing-here"),
    (("serve", "--dir", ".", "--listen", "nowhere"), "--listen expects HOST:PORT"),
])
def test_bad_parameters_exit_1(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert message in err
    assert not Path("server.crt").exists()


def test_unreachable_ca_exits_2_and_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}/api/v1"
    code, _, err = run(capsys, "webhooks", "192.168.1.10", "--endpoint", endpoint, "--timeout", "5s")
    assert code == 2
    assert f"cannot reach the CA at {endpoint}" in err
    assert "Is `smsgate-ca serve` running there?" in err
    assert not Path("server.crt").exists() and not Path("server.key").exists()


def test_endpoint_and_timeout_come_from_the_environment_or_dotenv(capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from_env, from_file = (f"http://127.0.0.1:{free_port()}/env/v1", f"http://127.0.0.1:{free_port()}/file/v1")
    Path(".env").write_text(f"ASG_CA_ENDPOINT={from_file}\nASG_CA_TIMEOUT=nonsense\n")
    assert "positive duration" in run(capsys, "webhooks", "10.0.0.7")[2]
    monkeypatch.setenv("ASG_CA_TIMEOUT", "3s")
    assert from_file in run(capsys, "webhooks", "10.0.0.7")[2]
    monkeypatch.setenv("ASG_CA_ENDPOINT", from_env)
    assert from_env in run(capsys, "webhooks", "10.0.0.7")[2]
    assert from_file in run(capsys, "-e", from_file, "webhooks", "10.0.0.7")[2]  # the global flag works too


def test_init_twice_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "init", "--dir", "ca", "--key-type", "ec")
    assert code == 0 and "SHA-256 fingerprint" in out
    code, _, err = run(capsys, "init", "--dir", "ca", "--key-type", "ec")
    assert code == 3 and "refusing to overwrite" in err


def test_private_ip_accepts_exactly_the_private_ranges() -> None:
    for text in ("10.0.0.1", "172.16.0.1", "172.31.255.254", "192.168.0.1", "fc00::1", "fdff::1", "[fd00::5]",
                 "::ffff:192.168.1.10"):
        private_ip(text)  # no ParamsError
    assert str(private_ip("::ffff:192.168.1.10")) == "192.168.1.10"
    for text in ("172.32.0.1", "11.0.0.1", "fe80::1", "2001:db8::1", "0.0.0.0", "224.0.0.1", "::1"):
        with pytest.raises(ParamsError):
            private_ip(text)


def test_the_csr_is_what_the_ca_accepts() -> None:
    valid = validate_csr(build_csr(new_key(), ipaddress.ip_address("192.168.1.10")))
    assert str(valid.ip) == "192.168.1.10"
    assert valid.csr.extensions.get_extension_for_class(x509.KeyUsage).critical


def test_error_message_reads_both_error_shapes() -> None:
    ours = httpx.Response(400, json={"message": "invalid csr: IP address should be private"})
    upstream = httpx.Response(400, json={"error": {"code": 400, "message": "failed to validate request"}})
    assert error_message(ours) == "invalid csr: IP address should be private"
    assert error_message(upstream) == "failed to validate request"
    assert error_message(httpx.Response(502, text="Bad Gateway from nginx")) == "Bad Gateway from nginx"
    assert error_message(httpx.Response(503)) == "Service Unavailable"


class FakeCa:
    """Answers POST with `pending`, then GETs from a script of statuses."""

    def __init__(self, statuses: list[str], post_status: int = 202, post_body: dict | None = None) -> None:
        self.statuses = statuses
        self.post_status, self.post_body = post_status, post_body
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        self.now = 0.0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "POST":
            return httpx.Response(self.post_status, json=self.post_body or {
                "request_id": "r" * 21, "type": "webhook", "status": "pending", "message": "..."})
        status = self.statuses.pop(0)
        body = {"request_id": "r" * 21, "type": "webhook", "status": status, "message": f"it is {status}"}
        if status == "approved":
            body["certificate"] = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"
        return httpx.Response(200, json=body)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def get(self, timeout: float = 30) -> str:
        with httpx.Client(transport=httpx.MockTransport(self.handler)) as client:
            return request_certificate(client, "http://ca.test/api/v1/", "CSR", "webhook", timeout,
                                       sleep=self.sleep, monotonic=lambda: self.now)


def test_polls_every_second_until_approved() -> None:
    fake = FakeCa(["pending", "pending", "approved"])
    assert fake.get().startswith("-----BEGIN CERTIFICATE-----")
    assert fake.sleeps == [1.0, 1.0, 1.0]
    assert [(r.method, r.url.path) for r in fake.requests] == [
        ("POST", "/api/v1/csr")] + [("GET", "/api/v1/csr/" + "r" * 21)] * 3
    assert json.loads(fake.requests[0].content) == {"type": "webhook", "content": "CSR"}


def test_gives_up_after_the_timeout_and_on_denial() -> None:
    fake = FakeCa(["pending"] * 100)
    with pytest.raises(ClientError, match=r"timed out after 5 s waiting for the certificate \(request r+ is still"):
        fake.get(timeout=5)
    assert len(fake.sleeps) == 5
    with pytest.raises(ClientError, match="the CA denied request r+: it is denied"):
        FakeCa(["denied"]).get()


def test_refusals_carry_the_cas_reason() -> None:
    upstream = FakeCa([], post_status=400, post_body={"error": {"code": 400, "message": "invalid csr: nope"}})
    with pytest.raises(ClientError, match="the CA refused the request: 400 invalid csr: nope"):
        upstream.get()
    wrong_base = FakeCa([], post_status=404, post_body={"message": "Not Found"})
    with pytest.raises(ClientError, match="Is http://ca.test/api/v1 the CA API base"):
        wrong_base.get()


def test_outputs_have_their_modes_and_replace_read_only_files(tmp_path: Path) -> None:
    out, keyout = tmp_path / "server.crt", tmp_path / "server.key"
    for round_ in (1, 2):  # the second round replaces a 0400 key
        write_outputs(f"CERT {round_}", f"KEY {round_}".encode(), out, keyout)
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        assert stat.S_IMODE(keyout.stat().st_mode) == 0o400
        assert (out.read_text(), keyout.read_text()) == (f"CERT {round_}", f"KEY {round_}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server.crt", "server.key"]  # no temporary files


def test_a_key_that_cannot_be_written_takes_the_certificate_with_it(tmp_path: Path) -> None:
    out = tmp_path / "server.crt"
    with pytest.raises(OutputError, match="cannot write the private key to"):
        write_outputs("CERT", b"KEY", out, tmp_path / "missing" / "server.key")
    assert not out.exists()
    with pytest.raises(OutputError, match="cannot write the certificate to"):
        write_outputs("CERT", b"KEY", tmp_path / "missing" / "server.crt", tmp_path / "k")
