"""End-to-end encryption as the app does it: `$aes-256-cbc/pbkdf2-sha1$i=<n>$<salt>$<data>`.

Key = PBKDF2-HMAC-SHA1(passphrase as UTF-8, salt, i iterations, 32 bytes); AES-256-CBC with PKCS#7
padding; **the 16-byte salt is also the IV**; standard base64. The error texts are the app's
(`EncryptionService`) and Android's, since they end up in `Can't send message: ...` reports.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from functools import lru_cache

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ALGORITHM = "aes-256-cbc/pbkdf2-sha1"
DEFAULT_ITERATIONS = 75_000
BAD_DECRYPT = "error:1e000065:Cipher functions:OPENSSL_internal:BAD_DECRYPT"


class DecryptionError(Exception):
    """A field the phone could not decrypt; str() is the text the app reports."""


@lru_cache(maxsize=4096)
def _key(passphrase: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha1", passphrase.encode(), salt, iterations, 32)


def encrypt_text(passphrase: str, plain: str, iterations: int = DEFAULT_ITERATIONS, *,
                 salt: bytes | None = None) -> str:
    """Encrypt one field (a text, a base64 data string, or a phone number) for a phone with `passphrase`."""
    salt = salt if salt is not None else os.urandom(16)
    if len(salt) != 16:
        raise ValueError("the salt is the AES IV: it must be 16 bytes")
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(_key(passphrase, salt, iterations)), modes.CBC(salt)).encryptor()
    data = encryptor.update(padded) + encryptor.finalize()
    return f"${ALGORITHM}$i={iterations}${base64.b64encode(salt).decode()}${base64.b64encode(data).decode()}"


def decrypt_text(passphrase: str | None, encrypted: str) -> str:
    """The phone's decryption; raises DecryptionError with the app's message."""
    chunks = encrypted.split("$")
    if len(chunks) < 5:
        raise DecryptionError("Invalid encrypted data format")
    if chunks[1] != ALGORITHM:
        raise DecryptionError("Unsupported algorithm")
    params = dict(pair.split("=", 1) for pair in chunks[2].split(",") if "=" in pair)
    if "i" not in params:
        raise DecryptionError("Missing iteration count")
    if passphrase is None:
        raise DecryptionError("Passphrase is not set")
    try:
        salt = base64.b64decode(chunks[3])
        data = base64.b64decode(chunks[4])
        iterations = int(params["i"])
    except (binascii.Error, ValueError) as exc:
        raise DecryptionError(f"bad-base64: {exc}") from exc
    if len(salt) != 16:
        raise DecryptionError(f"IV must be 16 bytes long, got {len(salt)}")
    if not data or len(data) % 16:
        raise DecryptionError("error:1e00006a:Cipher functions:OPENSSL_internal:DATA_NOT_MULTIPLE_OF_BLOCK_LENGTH")
    decryptor = Cipher(algorithms.AES(_key(passphrase, salt, iterations)), modes.CBC(salt)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise DecryptionError(BAD_DECRYPT) from exc
    return plain.decode("utf-8", errors="replace")
