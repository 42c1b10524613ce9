"""The root (`init`, loading) and the leaf template: what is copied from the CSR, what is set, what is dropped."""

from __future__ import annotations

import ipaddress
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from ca_testing import make_csr
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from reference_server.ca.authority import Authority, RootExists, RootMissing, init_root, load_authority
from reference_server.ca.validation import validate_csr

NOW = datetime(2026, 11, 22, 10, 0, 0, 123456)


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    directory = tmp_path_factory.mktemp("authority") / "ca"
    init_root(directory, key_type="ec")
    return load_authority(directory)


def sign(authority: Authority, pem: str, kind: str = "webhook") -> x509.Certificate:
    valid = validate_csr(pem)
    return x509.load_pem_x509_certificate(authority.sign(valid.csr, valid.ip, kind, NOW).encode())


def test_init_makes_a_ten_year_rsa_root_that_signs_and_refuses_to_overwrite(tmp_path: Path) -> None:
    directory = tmp_path / "new" / "ca"
    root = init_root(directory, now=NOW)
    assert isinstance(root.public_key(), rsa.RSAPublicKey) and root.public_key().key_size == 4096
    assert root.subject == root.issuer
    assert root.not_valid_after_utc - root.not_valid_before_utc == timedelta(days=3650)
    constraints = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length is None
    usage = root.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature and not usage.value.key_encipherment
    root.verify_directly_issued_by(root)
    assert stat.S_IMODE((directory / "ca.key").stat().st_mode) == 0o600
    assert (directory / "ca.key").read_text().startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    leaf = sign(load_authority(directory), make_csr(cn="172.16.0.5", ips=["172.16.0.5"]))
    assert leaf.signature_hash_algorithm is not None and leaf.signature_hash_algorithm.name == "sha256"
    leaf.verify_directly_issued_by(root)
    key_before = (directory / "ca.key").read_bytes()

    with pytest.raises(RootExists, match="refusing to overwrite"):
        init_root(directory, key_type="ec")
    (directory / "ca.crt").unlink()  # half a root is still a root
    with pytest.raises(RootExists):
        init_root(directory, key_type="ec")
    assert (directory / "ca.key").read_bytes() == key_before


def test_load_explains_what_is_wrong(tmp_path: Path, authority: Authority) -> None:
    with pytest.raises(RootMissing, match=r"missing .*ca\.crt.*smsgate-ca init --dir"):
        load_authority(tmp_path / "empty")
    other = tmp_path / "other"
    init_root(other, key_type="ec")
    (other / "ca.crt").write_bytes(b"garbage")
    with pytest.raises(RootMissing, match="cannot load"):
        load_authority(other)


def test_load_rejects_a_key_that_is_not_the_roots(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    init_root(first, key_type="ec")
    init_root(second, key_type="ec")
    (first / "ca.key").chmod(0o600)
    (first / "ca.key").write_bytes((second / "ca.key").read_bytes())
    with pytest.raises(RootMissing, match="is not the key of"):
        load_authority(first)


def test_leaf_template(authority: Authority) -> None:
    leaf = sign(authority, make_csr())
    assert leaf.issuer == authority.certificate.subject
    assert leaf.subject.rfc4514_string() == "CN=192.168.1.10"
    assert leaf.not_valid_before_utc.replace(tzinfo=None) == NOW.replace(microsecond=0)
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(days=365)
    constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca is False
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.digital_signature, usage.key_encipherment) == (True, True)
    assert not (usage.content_commitment or usage.key_cert_sign or usage.crl_sign or usage.key_agreement)
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.IPAddress(ipaddress.ip_address("192.168.1.10"))]
    root_ski = authority.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest
    leaf.verify_directly_issued_by(authority.certificate)


def test_serial_prefix_by_type(authority: Authority) -> None:
    webhook, private = sign(authority, make_csr(), "webhook"), sign(authority, make_csr(), "private_server")
    assert webhook.serial_number >> 120 == 1
    assert private.serial_number >> 120 == 2
    assert webhook.serial_number != sign(authority, make_csr(), "webhook").serial_number


def test_subject_is_set_by_the_ca_and_requested_extensions_are_dropped(authority: Authority) -> None:
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Home lab"),
        x509.NameAttribute(NameOID.COMMON_NAME, "192.168.1.10"),
    ])
    requested = [
        (x509.BasicConstraints(ca=True, path_length=None), True),
        (x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                       encipher_only=False, decipher_only=False), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.CLIENT_AUTH]), False),
        (x509.OCSPNoCheck(), False),
    ]
    leaf = sign(authority, make_csr(subject=subject, dns=["evil.example"], emails=["admin@home.lan"],
                                    extensions=requested))
    assert leaf.subject.rfc4514_string() == "CN=192.168.1.10"  # C and O from the CSR are not copied
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert not leaf.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH]
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.OCSPNoCheck)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == []  # DNS names are dropped
    assert san.get_values_for_type(x509.RFC822Name) == []  # nor e-mail SANs (upstream copies both)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["192.168.1.10"]


def test_leaf_carries_the_requesters_key(authority: Authority) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = sign(authority, make_csr(key=key))
    assert leaf.public_key() == key.public_key()

