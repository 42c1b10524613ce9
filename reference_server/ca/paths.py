"""The CA directory: the root certificate and its private key (never stored elsewhere), the default database."""

from __future__ import annotations

from pathlib import Path

ROOT_CERT_NAME = "ca.crt"  # PEM; what phones and clients install as a trusted (user) CA
ROOT_KEY_NAME = "ca.key"  # PKCS#8 PEM, mode 0600
DATABASE_NAME = "ca.db"  # SQLite, used by `smsgate-ca serve` when no database is configured


def root_cert_path(directory: Path) -> Path:
    return directory / ROOT_CERT_NAME


def root_key_path(directory: Path) -> Path:
    return directory / ROOT_KEY_NAME


def missing_root_files(directory: Path) -> list[str]:
    """Names of the root files absent from `directory` (empty when the CA is complete)."""
    return [name for name in (ROOT_CERT_NAME, ROOT_KEY_NAME) if not (directory / name).is_file()]
