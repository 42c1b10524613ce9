"""What the CA accepts (contract §5.1–5.2): the request body, then the CSR itself.

Messages keep upstream's wording as their prefix (`invalid csr: should have exactly one IP address`) and add
the detail a person needs after it. Unlike upstream, the CSR's self-signature must verify.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CSR_TYPES = ("webhook", "private_server")
DEFAULT_TYPE = "webhook"
PEM_HEADER = "-----BEGIN CERTIFICATE REQUEST-----"
MAX_CONTENT_CHARS = 16_384
MAX_METADATA_KEY, MAX_METADATA_VALUE = 64, 256
# Go's netip.Addr.IsPrivate(): RFC 1918 and RFC 4193. Loopback, link-local and 100.64/10 are not private.
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                                 "fc00::/7"))
PRIVATE_RANGES_TEXT = "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or fc00::/7"

MIN_RSA_BITS = 2048
ALLOWED_CURVES = (ec.SECP256R1, ec.SECP384R1)
KEYS_ACCEPTED = "RSA of 2048 bits or more, or EC on P-256 or P-384"

_PEM_BLOCK = re.compile(r"-----BEGIN ([^\r\n-]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)


class RequestInvalid(ValueError):
    """The body is not a valid submission (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CsrInvalid(RequestInvalid):
    """The CSR breaks a rule (400 `invalid csr: <reason>`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid csr: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Submission:
    content: str
    type: str = DEFAULT_TYPE
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ValidCsr:
    csr: x509.CertificateSigningRequest
    ip: IPAddress


def is_private(ip: IPAddress) -> bool:
    return any(ip in net for net in PRIVATE_NETWORKS if net.version == ip.version)


def canonical(ip: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address is its IPv4 address (Go prints and classifies it so)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _invalid(reason: str) -> RequestInvalid:
    return RequestInvalid(f"failed to validate request: {reason}")


def parse_submission(body: str | bytes) -> Submission:
    """The JSON body of POST /csr: `content` (PEM CSR), optional `type` and `metadata`."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise RequestInvalid("failed to parse request: the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise RequestInvalid("failed to parse request: the body must be a JSON object")
    content, kind, metadata = data.get("content"), data.get("type"), data.get("metadata")
    if not isinstance(content, str) or not content.strip():
        raise _invalid("content is required: a PEM certificate request")
    if len(content) > MAX_CONTENT_CHARS:
        raise _invalid(f"content must be at most {MAX_CONTENT_CHARS} characters, got {len(content)}")
    if not content.lstrip().startswith(PEM_HEADER):
        raise _invalid(f"content must start with {PEM_HEADER}")
    if kind is None or kind == "":
        kind = DEFAULT_TYPE
    if kind not in CSR_TYPES:
        raise _invalid(f"type must be one of {', '.join(CSR_TYPES)}, got {json.dumps(kind)}")
    return Submission(content=content, type=kind, metadata=_metadata(metadata))


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _invalid("metadata must be an object of strings")
    for key, item in value.items():
        if len(key) > MAX_METADATA_KEY:
            raise _invalid(f"metadata keys must be at most {MAX_METADATA_KEY} characters")
        if len(item) > MAX_METADATA_VALUE:
            raise _invalid(f"metadata values must be at most {MAX_METADATA_VALUE} characters (key {key!r})")
    return dict(value)


def load_csr(content: str) -> x509.CertificateSigningRequest:
    """The first PEM block, which must be a CERTIFICATE REQUEST that parses (Go's pem.Decode + Parse)."""
    match = _PEM_BLOCK.search(content)
    if match is None or match[1] != "CERTIFICATE REQUEST":
        raise CsrInvalid("can't decode PEM block or invalid block type")
    body = "".join(line for line in match[2].splitlines() if ":" not in line)  # skip RFC 1421 headers
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CsrInvalid("can't decode PEM block or invalid block type") from None
    try:
        csr = x509.load_der_x509_csr(der)
        csr.extensions  # noqa: B018 - parse them now: a malformed extension is the requester's error
        csr.subject  # noqa: B018
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise CsrInvalid(f"can't parse the certificate request ({exc})") from None
    return csr


def _ip_addresses(csr: x509.CertificateSigningRequest) -> list[IPAddress]:
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    values = san.get_values_for_type(x509.IPAddress)
    return [canonical(ip) for ip in values if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)]


def _check_key(csr: x509.CertificateSigningRequest) -> None:
    """Only keys that are strong today and that every TLS client (Android included) can use."""
    try:
        key = csr.public_key()
    except (ValueError, x509.UnsupportedGeneralNameType) as exc:
        raise CsrInvalid(f"unsupported public key ({exc}); use {KEYS_ACCEPTED}") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CsrInvalid(f"RSA key of {key.key_size} bits is too weak; use {KEYS_ACCEPTED}")
        return
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ALLOWED_CURVES):
            raise CsrInvalid(f"EC curve {key.curve.name} is not accepted; use {KEYS_ACCEPTED}")
        return
    raise CsrInvalid(f"{type(key).__name__.removeprefix('_')} keys are not accepted; use {KEYS_ACCEPTED}")


def validate_csr(content: str) -> ValidCsr:
    """Parse and check a CSR: key type and size, self-signature, one IP SAN, CN equal to it, the IP private."""
    csr = load_csr(content)
    _check_key(csr)
    try:
        signature_ok = csr.is_signature_valid
    except Exception:  # an unsupported key or signature algorithm cannot be verified
        signature_ok = False
    if not signature_ok:
        raise CsrInvalid("signature does not verify (the request was altered, or not signed by its own key)")
    ips = _ip_addresses(csr)
    if len(ips) != 1:
        found = ", ".join(map(str, ips)) if ips else "none; DNS names and other SAN types do not count"
        raise CsrInvalid(f"should have exactly one IP address (found {found})")
    ip = ips[0]
    common_names = [str(attr.value) for attr in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if common_names != [str(ip)]:
        shown = ", ".join(repr(cn) for cn in common_names) or "none"
        raise CsrInvalid(f"common name and IP address should be the same (CN {shown}, IP {ip})")
    if not is_private(ip):
        raise CsrInvalid(f"IP address should be private ({ip} is not in {PRIVATE_RANGES_TEXT})")
    return ValidCsr(csr=csr, ip=ip)
