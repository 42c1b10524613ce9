"""The CA API in-process: the happy path, every rejection rule with its message, expiry and the rate limit."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
import trio.testing
from ca_testing import ca_client, ca_settings, make_csr, tamper, wait_for_status
from cryptography import x509

from reference_server.ca.authority import init_root
from reference_server.ca.service import WallClock


@pytest.fixture(scope="module")
def root_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ca-api") / "ca"
    init_root(directory, key_type="ec")
    return directory


async def submit(client, content: str, **extra):
    return await client.post("/csr", json={"content": content, **extra})


async def test_submit_then_poll_returns_the_leaf(tmp_path: Path, root_dir: Path) -> None:
    async with ca_client(ca_settings(tmp_path), root_dir) as (client, _service):
        response = await submit(client, make_csr(), metadata={"host": "laptop"})
        assert response.status_code == 202, response.text
        body = response.json()
        assert set(body) == {"request_id", "type", "status", "message"}
        assert len(body["request_id"]) == 21
        assert (body["type"], body["status"]) == ("webhook", "pending")
        assert body["message"] == "CSR submitted successfully. Await processing."

        approved = await wait_for_status(client, body["request_id"])
        assert approved["message"] == "CSR approved. The certificate is ready for download."
        assert approved["type"] == "webhook"
        leaf = x509.load_pem_x509_certificate(str(approved["certificate"]).encode())
        root = x509.load_pem_x509_certificate((root_dir / "ca.crt").read_bytes())
        leaf.verify_directly_issued_by(root)
        assert str(approved["certificate"]).count("BEGIN CERTIFICATE") == 1  # the leaf only, no chain


async def test_private_server_type_and_ipv6_unique_local_are_accepted(tmp_path: Path, root_dir: Path) -> None:
    async with ca_client(ca_settings(tmp_path), root_dir) as (client, _service):
        response = await submit(client, make_csr(cn="fd12:3456:789a::10", ips=["fd12:3456:789a::10"]),
                                type="private_server")
        assert response.status_code == 202, response.text
        approved = await wait_for_status(client, response.json()["request_id"])
        leaf = x509.load_pem_x509_certificate(str(approved["certificate"]).encode())
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["fd12:3456:789a::10"]
        assert leaf.serial_number >> 120 == 2  # private_server


async def test_the_database_may_be_mariadb(tmp_path: Path, root_dir: Path, database_url: str) -> None:
    async with ca_client(ca_settings(tmp_path, DATABASE__URL=database_url), root_dir) as (client, _service):
        response = await submit(client, make_csr(cn="10.1.2.3", ips=["10.1.2.3"]))
        assert response.status_code == 202, response.text
        approved = await wait_for_status(client, response.json()["request_id"])
        assert "BEGIN CERTIFICATE" in str(approved["certificate"])


REJECTIONS = {
    "public IP": (make_csr(cn="8.8.8.8", ips=["8.8.8.8"]),
                  "invalid csr: IP address should be private (8.8.8.8 is not in 10.0.0.0/8, 172.16.0.0/12, "
                  "192.168.0.0/16 or fc00::/7)"),
    "loopback": (make_csr(cn="127.0.0.1", ips=["127.0.0.1"]), "invalid csr: IP address should be private"),
    "link-local": (make_csr(cn="169.254.1.1", ips=["169.254.1.1"]), "invalid csr: IP address should be private"),
    "carrier-grade NAT": (make_csr(cn="100.64.0.1", ips=["100.64.0.1"]),
                          "invalid csr: IP address should be private"),
    "IPv6 loopback": (make_csr(cn="::1", ips=["::1"]), "invalid csr: IP address should be private"),
    "two IPs": (make_csr(ips=["192.168.1.10", "192.168.1.11"]),
                "invalid csr: should have exactly one IP address (found 192.168.1.10, 192.168.1.11)"),
    "no SAN": (make_csr(ips=[]), "invalid csr: should have exactly one IP address (found none"),
    "DNS-only SAN": (make_csr(cn="192.168.1.10", ips=[], dns=["printer.lan"]),
                     "invalid csr: should have exactly one IP address (found none; DNS names"),
    "CN mismatch": (make_csr(cn="192.168.1.11"),
                    "invalid csr: common name and IP address should be the same (CN '192.168.1.11', "
                    "IP 192.168.1.10)"),
    "CN missing": (make_csr(cn=None), "invalid csr: common name and IP address should be the same (CN none"),
    "CN not canonical": (make_csr(cn="FD00:0::1", ips=["fd00::1"]),
                         "invalid csr: common name and IP address should be the same"),
    "tampered signature": (tamper(make_csr()), "invalid csr: signature does not verify"),
    "bad PEM": ("-----BEGIN CERTIFICATE REQUEST-----\nnot base64 at all!\n-----END CERTIFICATE REQUEST-----\n",
                "invalid csr: can't decode PEM block or invalid block type"),
    "PEM without an end": ("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n",
                           "invalid csr: can't decode PEM block or invalid block type"),
    "not a CSR inside": ("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                         "invalid csr: can't parse the certificate request"),
    "certificate, not a request": ("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                                   "failed to validate request: content must start with "
                                   "-----BEGIN CERTIFICATE REQUEST-----"),
}


@pytest.mark.parametrize("case", list(REJECTIONS))
async def test_each_rule_rejects_with_a_clear_message(tmp_path: Path, root_dir: Path, case: str) -> None:
    content, message = REJECTIONS[case]
    async with ca_client(ca_settings(tmp_path), root_dir) as (client, service):
        response = await submit(client, content)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.json()["message"].startswith(message), response.json()
        assert await service.requests.pending_ids(service.clock.now()) == []  # nothing stored


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "failed to parse request"),
    (b"[]", "failed to parse request"),
    (b"{}", "failed to validate request: content is required"),
    (b'{"content": 5}', "failed to validate request: content is required"),
    (b'{"content": "' + b"-----BEGIN CERTIFICATE REQUEST-----" + b"A" * 16400 + b'"}',
     "failed to validate request: content must be at most 16384 characters"),
    (b'{"content": "x", "metadata": {"k": 1}}', "failed to validate request: content must start with"),
])
async def test_malformed_bodies(tmp_path: Path, root_dir: Path, body: bytes, message: str) -> None:
    async with ca_client(ca_settings(tmp_path), root_dir) as (client, _service):
        response = await client.post("/csr", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400
        assert response.json()["message"].startswith(message), response.json()


@pytest.mark.parametrize(("extra", "message"), [
    ({"type": "server"}, 'failed to validate request: type must be one of webhook, private_server, got "server"'),
    ({"type": 3}, "failed to validate request: type must be one of webhook, private_server, got 3"),
    ({"metadata": {"k": 1}}, "failed to validate request: metadata must be an object of strings"),
    ({"metadata": {"k" * 65: "v"}}, "failed to validate request: metadata keys must be at most 64 characters"),
    ({"metadata": {"k": "v" * 257}}, "failed to validate request: metadata values must be at most 256"),
])
async def test_unknown_type_and_bad_metadata(tmp_path: Path, root_dir: Path, extra: dict, message: str) -> None:
    async with ca_client(ca_settings(tmp_path), root_dir) as (client, _service):
        response = await submit(client, make_csr(), **extra)
        assert response.status_code == 400
        assert response.json()["message"].startswith(message), response.json()


async def test_unknown_and_garbage_ids_are_404(tmp_path: Path, root_dir: Path) -> None:
    async with ca_client(ca_settings(tmp_path), root_dir) as (client, _service):
        for request_id in ("V1StGXR8_Z5jdHi6B-myT", "x", "%27%20OR%201%3D1"):
            response = await client.get(f"/csr/{request_id}")
            assert response.status_code == 404
            assert response.json() == {"message": "csr not found"}


async def test_requests_expire_after_the_ttl(tmp_path: Path, root_dir: Path,
                                             mock_clock: trio.testing.MockClock) -> None:
    async with ca_client(ca_settings(tmp_path, CA__TTL="2h"), root_dir) as (client, service):
        request_id = (await submit(client, make_csr())).json()["request_id"]
        mock_clock.jump(timedelta(hours=2).total_seconds() - 5)
        assert (await client.get(f"/csr/{request_id}")).status_code == 200
        mock_clock.jump(10)
        response = await client.get(f"/csr/{request_id}")
        assert (response.status_code, response.json()) == (404, {"message": "csr not found"})
        assert await service.requests.get(request_id) is not None  # gone for readers, not yet swept
        assert await service.sweep() == 1
        assert await service.requests.get(request_id) is None


async def test_post_is_limited_per_client_ip(tmp_path: Path, root_dir: Path,
                                            mock_clock: trio.testing.MockClock) -> None:
    async with ca_client(ca_settings(tmp_path), root_dir) as (client, _service):
        assert (await submit(client, make_csr(cn="8.8.8.8", ips=["8.8.8.8"]))).status_code == 400  # not counted
        assert (await submit(client, make_csr())).status_code == 202
        mock_clock.jump(20)
        limited = await submit(client, make_csr())
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "40"
        assert limited.json()["message"] == "too many requests: at most 1 request per minute, try again in 40 s"
        mock_clock.jump(40)
        assert (await submit(client, make_csr())).status_code == 202


async def test_concurrent_submissions_cannot_all_slip_under_the_limit(tmp_path: Path, root_dir: Path,
                                                                      mock_clock: trio.testing.MockClock) -> None:
    """The slot is booked in one atomic count before the work: of eight at once, one goes through; a refused
    request books nothing, so the window is that of the accepted one."""
    async with ca_client(ca_settings(tmp_path), root_dir) as (client, _service):
        statuses: list[int] = []

        async def one() -> None:
            statuses.append((await submit(client, make_csr())).status_code)

        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(one)
        assert sorted(statuses) == [202] + [429] * 7
        mock_clock.jump(61)
        assert (await submit(client, make_csr())).status_code == 202


async def test_the_limit_is_configurable_and_per_ip(tmp_path: Path, root_dir: Path,
                                                   mock_clock: trio.testing.MockClock) -> None:
    settings = ca_settings(tmp_path, CA__RATE_LIMIT="2")
    async with ca_client(settings, root_dir, client_ip="10.0.0.1") as (first, _service):
        assert [(await submit(first, make_csr())).status_code for _ in range(3)] == [202, 202, 429]
    async with ca_client(settings, root_dir, client_ip="10.0.0.2") as (second, _service):
        assert (await submit(second, make_csr())).status_code == 202
    async with ca_client(ca_settings(tmp_path, CA__RATE_LIMIT="0"), root_dir) as (unlimited, _service):
        assert {(await submit(unlimited, make_csr())).status_code for _ in range(5)} == {202}


async def test_trusted_proxy_forwards_the_client_ip(tmp_path: Path, root_dir: Path,
                                                   mock_clock: trio.testing.MockClock) -> None:
    settings = ca_settings(tmp_path, HTTP__PROXIES="192.168.1.50")
    async with ca_client(settings, root_dir) as (client, _service):
        statuses = [(await submit(client, make_csr())).status_code]  # the proxy itself, as a client
        for ip in ("10.9.9.1", "10.9.9.2", "10.9.9.1"):
            response = await client.post("/csr", json={"content": make_csr()}, headers={"X-Forwarded-For": ip})
            statuses.append(response.status_code)
        assert statuses == [202, 202, 202, 429]


async def test_wrong_method_and_path_answer_json(tmp_path: Path, root_dir: Path) -> None:
    async with ca_client(ca_settings(tmp_path), root_dir) as (client, _service):
        response = await client.get("/csr")
        assert response.status_code == 405
        assert "message" in response.json()
        response = await client.get("/nothing")
        assert (response.status_code, response.json()) == (404, {"message": "Not Found"})


async def test_expired_requests_are_swept_periodically(tmp_path: Path, root_dir: Path,
                                                       mock_clock: trio.testing.MockClock) -> None:
    async with ca_client(ca_settings(tmp_path, CA__TTL="2h"), root_dir) as (client, service):
        request_id = (await submit(client, make_csr())).json()["request_id"]
        assert service.sweep_interval == 600

        async def rounds_done(count: int) -> None:  # real time bounds the wait; MockClock stands still
            deadline = time.monotonic() + 5
            while service.periodic_sweeps < count:
                assert time.monotonic() < deadline, f"sweep round {count} did not finish"
                await trio.lowlevel.checkpoint()

        await rounds_done(1)  # the round at start is over: the sweeper sleeps for 600 s now
        assert await service.requests.get(request_id) is not None
        mock_clock.jump(2 * 3600 + 1)  # past the TTL and past the sweeper's wake-up
        await rounds_done(2)
        assert await service.requests.get(request_id) is None


async def test_wall_clock_follows_the_system_clock_and_mock_jumps(mock_clock: trio.testing.MockClock) -> None:
    clock = WallClock()
    assert abs(clock.now() - datetime.now(UTC).replace(tzinfo=None)) < timedelta(seconds=1)
    mock_clock.jump(3600)
    assert abs(clock.now() - datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)) < timedelta(seconds=1)
