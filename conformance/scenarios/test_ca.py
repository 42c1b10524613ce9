"""ca: the private Certificate Authority's API (device protocol §5, openapi/ca.yaml), at --ca URL."""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conformance.harness import Suite, body, describe, eventually, expect
from conformance.harness.csr import make_csr
from conformance.harness.skips import skip

pytestmark = pytest.mark.capability("ca")

IP = "192.168.77.10"


def ca_base(suite: Suite) -> str:
    if not suite.settings.ca:
        skip("prerequisite: --ca URL (the CA API base)")
    return suite.settings.ca.rstrip("/")


@pytest.mark.parametrize(("common_name", "ips"), [
    ("8.8.8.8", ["8.8.8.8"]),
    ("127.0.0.1", ["127.0.0.1"]),
    ("192.168.77.11", ["192.168.77.12"]),
    ("192.168.77.13", []),
    ("192.168.77.14", ["192.168.77.14", "10.0.0.14"]),
], ids=["public-ip", "loopback", "name-mismatch", "no-ip", "two-ips"])
async def test_refuses_invalid_requests(suite: Suite, common_name: str, ips: list[str]) -> None:
    base = ca_base(suite)
    pem, _ = make_csr(common_name, ips)
    response = await suite.http.post(base + "/csr", json={"type": "webhook", "content": pem})
    assert response.status_code == 400, describe(response)


async def test_refuses_garbage(suite: Suite) -> None:
    base = ca_base(suite)
    for payload in ({"content": "-----BEGIN CERTIFICATE REQUEST-----\ngarbage\n-----END CERTIFICATE REQUEST-----\n"},
                    {"content": "not pem"}, {"type": "other", "content": make_csr(IP, [IP])[0]}):
        response = await suite.http.post(base + "/csr", json=payload)
        assert response.status_code == 400, describe(response)


async def test_unknown_request_is_404(suite: Suite) -> None:
    base = ca_base(suite)
    response: httpx.Response = await suite.http.get(base + "/csr/no-such-request-id-xx")
    assert response.status_code == 404, describe(response)


WEAK_KEYS = {"rsa-1024": lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),
             "secp256k1": lambda: ec.generate_private_key(ec.SECP256K1())}


@pytest.mark.should
@pytest.mark.parametrize("kind", list(WEAK_KEYS))
async def test_refuses_weak_keys(suite: Suite, kind: str) -> None:
    base = ca_base(suite)
    pem, _ = make_csr(IP, [IP], key=WEAK_KEYS[kind]())
    response = await suite.http.post(base + "/csr", json={"type": "webhook", "content": pem})
    assert response.status_code == 400, f"a CSR with a {kind} key: {describe(response)}"


# Last: a CA may refuse every request for a while after an accepted one (1 per minute per client IP).
async def test_signs_a_private_ip(suite: Suite) -> None:
    base = ca_base(suite)
    pem, key = make_csr(IP, [IP])
    answer = body(expect(await suite.http.post(base + "/csr", json={"type": "webhook", "content": pem}), 202))
    assert answer.get("status") == "pending" and answer.get("type") == "webhook", f"submission: {answer}"
    request_id = answer.get("request_id")
    assert isinstance(request_id, str) and request_id, f"no request_id: {answer}"

    async def approved() -> dict[str, object] | None:
        status = body(expect(await suite.http.get(f"{base}/csr/{request_id}"), 200))
        return dict(status) if status.get("status") == "approved" else None

    status = await eventually(approved, 30, "the CSR approved")
    certificate = x509.load_pem_x509_certificate(str(status["certificate"]).encode())
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == IP
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(IP)], san
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca, "a leaf, not a CA"
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage, "serverAuth"
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    assert certificate.public_key().public_bytes(serialization.Encoding.PEM, public) == \
        key.public_key().public_bytes(serialization.Encoding.PEM, public), "the certificate is for the CSR's key"
