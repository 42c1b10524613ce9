"""nanoid-compatible identifiers: 21 characters of the URL-safe alphabet, from the OS CSPRNG."""

import secrets

URL_ALPHABET = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def new_id(size: int = 21) -> str:
    # 64 symbols: the low 6 bits of each random byte pick one without bias (nanoid's own method).
    return "".join([URL_ALPHABET[byte & 63] for byte in secrets.token_bytes(size)])
