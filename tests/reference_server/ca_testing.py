"""Helpers for the CA tests: CSRs of every shape, a tampered one, the CA app in-process."""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID
from quart_trio import QuartTrio

from reference_server.ca.routes import EXTENSION
from reference_server.ca.server import create_ca_app
from reference_server.ca.service import CaService
from reference_server.config import Settings, load_settings

CLIENT_IP = "192.168.1.50"


def make_csr(*, cn: str | None = "192.168.1.10", ips: Sequence[str] = ("192.168.1.10",), dns: Sequence[str] = (),
             emails: Sequence[str] = (), subject: x509.Name | None = None,
             extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
             key: CertificateIssuerPrivateKeyTypes | None = None) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    if subject is None:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn is not None else [])
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    names += [x509.DNSName(name) for name in dns] + [x509.RFC822Name(email) for email in emails]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM).decode()


def tamper(pem: str) -> str:
    """The same CSR with one bit of its signature flipped: still parses, no longer verifies."""
    body = re.search(r"-----BEGIN CERTIFICATE REQUEST-----\n(.*)-----END", pem, re.DOTALL)
    assert body is not None
    der = bytearray(base64.b64decode(body[1]))
    der[-5] ^= 0x01  # inside the trailing signature BIT STRING
    assert x509.load_der_x509_csr(bytes(der)).is_signature_valid is False
    encoded = base64.encodebytes(bytes(der)).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{encoded}-----END CERTIFICATE REQUEST-----\n"


def ca_settings(tmp_path: Path, **env: str) -> Settings:
    environ = {"DATABASE__URL": f"sqlite:///{tmp_path / 'ca-test.db'}", **env}
    return load_settings(config_path=None, environ=environ, dotenv_path=tmp_path / "absent.env")


@asynccontextmanager
async def ca_client(settings: Settings, directory: Path, client_ip: str = CLIENT_IP
                    ) -> AsyncIterator[tuple[httpx.AsyncClient, CaService]]:
    """The standalone CA app over ASGI (base URL = its API base) and its service."""
    app: QuartTrio = create_ca_app(settings, directory)
    async with app.test_app():
        transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://ca.test/api/v1") as client:
            yield client, app.extensions[EXTENSION].service


async def wait_for_status(client: httpx.AsyncClient, request_id: str, status: str = "approved",
                          attempts: int = 300) -> dict[str, object]:
    """Poll GET /csr/{id} on the real clock until `status` (the worker signs in the background)."""
    import trio

    body: dict[str, object] = {}
    for _ in range(attempts):
        response = await client.get(f"/csr/{request_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] == status:
            return body
        await trio.sleep(0.01)
    raise AssertionError(f"request {request_id} never became {status}: {body}")
