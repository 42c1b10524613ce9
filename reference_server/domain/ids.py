"""nanoid-compatible identifiers: 21 characters of the URL-safe alphabet, from the OS CSPRNG."""

import secrets

URL_ALPHABET = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def new_id(size: int = 21) -> str:
    return "".join(secrets.choice(URL_ALPHABET) for _ in range(size))
