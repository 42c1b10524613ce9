"""Certificate signing requests as `smsgate-ca` makes them (ECDSA P-256, CN = the IP, one IP SAN)."""

from __future__ import annotations

import ipaddress
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_csr(common_name: str, ips: list[str], key: Any = None) -> tuple[str, Any]:
    """A PEM CSR and its key (a new P-256 key unless `key` is given: a weak one, say)."""
    key = key if key is not None else ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
    if ips:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]), critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key
