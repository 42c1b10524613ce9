"""The root of the private CA: create it once, load it, and sign leaf certificates with it (contract §5.3)."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .paths import root_cert_path, root_key_path

log = logging.getLogger(__name__)

ROOT_VALIDITY = timedelta(days=3650)
LEAF_VALIDITY = timedelta(days=365)
DEFAULT_ROOT_NAME = "SMSGate Private Root CA"
# The serial's top bits tell what a certificate was issued for (upstream: random 120 bits | prefix << 120).
SERIAL_PREFIX = {"webhook": 1, "private_server": 2}
KeyType = Literal["rsa", "ec"]


class RootExists(Exception):
    """`init` found a root (or part of one) and will not overwrite it."""


class RootMissing(Exception):
    """The CA directory has no usable root."""


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create `path` with `mode`; fail if it exists (O_EXCL: no race with a second `init`)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, mode)  # the umask may have narrowed it


def init_root(directory: Path, *, common_name: str = DEFAULT_ROOT_NAME, key_type: KeyType = "rsa",
              now: datetime | None = None) -> x509.Certificate:
    """Create the root key (mode 0600) and a self-signed root certificate valid for 10 years in `directory`."""
    cert_path, key_path = root_cert_path(directory), root_key_path(directory)
    existing = [str(path) for path in (cert_path, key_path) if path.exists()]
    if existing:
        raise RootExists(f"a CA root already exists ({', '.join(existing)}); refusing to overwrite it")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=4096) if key_type == "rsa"
        else ec.generate_private_key(ec.SECP384R1())
    )
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SMSGate private CA"),
    ])
    start = (now or _utc_now()).replace(microsecond=0)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    _write_new(key_path, key_pem, 0o600)
    try:
        _write_new(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    except OSError:
        key_path.unlink(missing_ok=True)
        raise
    return certificate


@dataclass(frozen=True)
class Authority:
    certificate: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes

    def sign(self, csr: x509.CertificateSigningRequest, ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
             kind: str, now: datetime) -> str:
        """The leaf for a validated CSR, as PEM: only what the CA decides.

        Subject `CN=<ip>` and the one validated IP SAN; the CSR's other subject attributes, e-mail and DNS SANs and
        requested extensions are never copied (upstream copies the subject and e-mail SANs).
        """
        start = now.replace(microsecond=0)
        serial = (SERIAL_PREFIX[kind] << 120) | secrets.randbits(120)
        public_key = csr.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(ip))]))
            .issuer_name(self.certificate.subject)
            .public_key(public_key)  # type: ignore[arg-type]  # validated CSRs carry a certifiable key
            .serial_number(serial)
            .not_valid_before(start)
            .not_valid_after(start + LEAF_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip)]), critical=False)
            .add_extension(self._authority_key_identifier(), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)  # type: ignore[arg-type]
        )
        leaf = builder.sign(self.key, hashes.SHA256())
        return leaf.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def _authority_key_identifier(self) -> x509.AuthorityKeyIdentifier:
        try:
            ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        except x509.ExtensionNotFound:
            return x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key())  # type: ignore[arg-type]


def load_authority(directory: Path) -> Authority:
    """The root certificate and key from `directory`; RootMissing with a readable reason otherwise."""
    cert_path, key_path = root_cert_path(directory), root_key_path(directory)
    missing = [str(path) for path in (cert_path, key_path) if not path.is_file()]
    if missing:
        raise RootMissing(f"no CA root in {directory} (missing {', '.join(missing)}); "
                          f"create one with `smsgate-ca init --dir {directory}`")
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise RootMissing(f"cannot load the CA root from {directory}: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise RootMissing(f"{key_path}: unsupported key type {type(key).__name__} (RSA or EC expected)")
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
        raise RootMissing(f"{key_path} is not the key of {cert_path}")
    try:
        is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise RootMissing(f"{cert_path} is not a CA certificate (basicConstraints CA:TRUE missing)")
    if key_path.stat().st_mode & 0o077:
        log.warning("%s is readable by group or others; chmod 600 it", key_path)
    return Authority(certificate, key)
