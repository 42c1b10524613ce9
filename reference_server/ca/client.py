"""Getting a certificate from a CA (upstream's `smsgate-ca webhooks|private`, contract §5.4).

Steps: check the IP is private, make an EC P-256 key, build a CSR (CN = IP, one IP SAN), POST it, poll every
second until the certificate arrives or the time is up, then write the certificate (0600) and key (0400).
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .validation import PRIVATE_RANGES_TEXT, IPAddress, canonical, is_private

DEFAULT_ENDPOINT = "http://127.0.0.1:8443/api/v1"
POLL_INTERVAL = 1.0


class ParamsError(Exception):
    """Bad input from the person (exit 1)."""


class ClientError(Exception):
    """The CA could not be reached or refused (exit 2)."""


class OutputError(Exception):
    """The files could not be written (exit 3)."""


def private_ip(text: str) -> IPAddress:
    """The address `text` names, if the CA would certify it; ParamsError saying why not otherwise."""
    try:
        ip = canonical(ipaddress.ip_address(text.strip().strip("[]")))
    except ValueError:
        raise ParamsError(f"{text!r} is not an IP address (expected e.g. 192.168.1.10 or fd00::10)") from None
    if is_private(ip):
        return ip
    kind = ("a loopback" if ip.is_loopback else "a link-local" if ip.is_link_local
            else "an unspecified" if ip.is_unspecified else "a multicast" if ip.is_multicast
            else "a shared (carrier-grade NAT)" if ip in ipaddress.ip_network("100.64.0.0/10")
            else "a public" if ip.is_global else "a reserved")
    raise ParamsError(f"{ip} is {kind} address, and the CA certifies only private LAN addresses "
                      f"({PRIVATE_RANGES_TEXT}). Use the address your phone reaches this machine at on "
                      f"the local network (see `ip addr` or `ipconfig`).")


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """SEC1 `EC PRIVATE KEY` PEM, as upstream writes it."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def build_csr(key: ec.EllipticCurvePrivateKey, ip: IPAddress) -> str:
    """CN = IP, one IP SAN, and the extensions upstream requests (the CA decides what the leaf gets)."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(ip))]))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip)]), critical=False)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def error_message(response: httpx.Response) -> str:
    """The CA's reason: our `{"message"}`, upstream's `{"error": {"message"}}`, or the text itself."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return str(body["message"])
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
    text = response.text.strip()
    return text[:300] if text else response.reason_phrase or "no reason given"


def _refused(response: httpx.Response, endpoint: str) -> ClientError:
    message = f"the CA refused the request: {response.status_code} {error_message(response)}"
    if response.status_code in (404, 405) and "csr" not in error_message(response):
        message += (f". Is {endpoint} the CA API base? It ends in /api/v1 for `smsgate-ca serve` and in "
                    f"/api/ca/v1 for smsgate-server with ca.enabled")
    return ClientError(message)


def _json(response: httpx.Response, endpoint: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise _refused(response, endpoint)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ClientError(f"the answer from {endpoint} is not a CA response ({response.status_code}, "
                          f"{response.headers.get('content-type', 'no content type')})")
    return body


def request_certificate(client: httpx.Client, endpoint: str, csr_pem: str, kind: str, timeout: float, *,
                        sleep: Callable[[float], None] = time.sleep,
                        monotonic: Callable[[], float] = time.monotonic,
                        progress: Callable[[str], None] = lambda _line: None) -> str:
    """Submit the CSR and wait for the certificate (PEM); ClientError on refusal, denial or timeout."""
    base = endpoint.rstrip("/")
    deadline = monotonic() + timeout
    try:
        progress(f"Sending the certificate request to {base} ...")
        answer = _json(client.post(f"{base}/csr", json={"type": kind, "content": csr_pem}), base)
        request_id = answer.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise ClientError(f"the answer from {base} has no request_id")
        while not answer.get("certificate"):
            if answer.get("status") == "denied":
                reason = answer.get("message") or "no reason given"
                raise ClientError(f"the CA denied request {request_id}: {reason}")
            if monotonic() + POLL_INTERVAL > deadline:
                raise ClientError(f"timed out after {timeout:g} s waiting for the certificate "
                                  f"(request {request_id} is still {answer.get('status', 'pending')})")
            sleep(POLL_INTERVAL)
            progress("Waiting for the certificate ...")
            answer = _json(client.get(f"{base}/csr/{request_id}"), base)
    except httpx.ConnectError as exc:
        raise ClientError(f"cannot reach the CA at {base} ({exc}). Is `smsgate-ca serve` running there? "
                          f"Point --endpoint (or ASG_CA_ENDPOINT) at the CA API base.") from None
    except httpx.TimeoutException:
        raise ClientError(f"the CA at {base} did not answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise ClientError(f"talking to the CA at {base} failed: {exc}") from None
    return str(answer["certificate"])


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write atomically through a temporary file, so an existing read-only file is replaced too."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_outputs(certificate_pem: str, private_key_pem: bytes, out: Path, keyout: Path) -> None:
    """The certificate (0600), then the key (0400); when the key cannot be written the certificate goes too."""
    try:
        _write(out, certificate_pem.encode("ascii"), 0o600)
    except OSError as exc:
        raise OutputError(f"cannot write the certificate to {out}: {exc.strerror or exc}") from None
    try:
        _write(keyout, private_key_pem, 0o400)
    except OSError as exc:
        out.unlink(missing_ok=True)
        raise OutputError(f"cannot write the private key to {keyout}: {exc.strerror or exc}") from None
