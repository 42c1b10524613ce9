"""nanoid-compatible identifiers: 21 characters of the URL-safe alphabet, from the OS CSPRNG."""

import secrets
import unicodedata

from .errors import InvalidInput

URL_ALPHABET = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def new_id(size: int = 21) -> str:
    # 64 symbols: the low 6 bits of each random byte pick one without bias (nanoid's own method).
    return "".join([URL_ALPHABET[byte & 63] for byte in secrets.token_bytes(size)])


def has_control_characters(value: str) -> bool:
    """C0 (incl. NUL, CR, LF, TAB), DEL and C1: Unicode category Cc is exactly these 65 code points."""
    return any(unicodedata.category(char) == "Cc" for char in value)


def check_client_id(name: str, value: str) -> str:
    """A client-chosen id (path parameter or body field) must be printable: it lands in headers, logs, URLs."""
    if has_control_characters(value):
        raise InvalidInput(f"invalid {name}: control characters are not allowed")
    return value
