"""A failing check's reproduction: the request behind it as a `curl` line, secrets masked.

Every request the suite sends is noted (see `polite`); a failure message built by `describe()` marks the
request it is about. The reproduction is that request, else the check's last one. Checks run one at a time.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "x-api-key"}
SKIPPED_HEADERS = {"host", "content-length", "accept-encoding", "connection", "user-agent", "accept"}
MAX_BODY = 2000
SECRET_KEYS = re.compile(r'("(?:password|currentPassword|newPassword|token|refresh_token|access_token|accessToken'
                         r'|refreshToken)"\s*:\s*)"[^"]*"')


@dataclass(frozen=True)
class Sent:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


_last: Sent | None = None
_described: Sent | None = None
_secrets: set[str] = set()


def add_secret(value: str | None) -> None:
    """A value masked wherever it appears in a reproduction (e.g. the private token, a password)."""
    if value and len(value) >= 4:
        _secrets.add(value)


def sent(method: str, url: str, headers: Mapping[str, str] | Any, body: bytes) -> None:
    global _last
    _last = Sent(method.upper(), url, tuple((str(k), str(v)) for k, v in headers.items()), body)


def described(method: str, url: str, headers: Mapping[str, str] | Any, body: bytes) -> None:
    """A failure message is about this request: prefer it to whatever was sent after it."""
    global _described
    _described = Sent(method.upper(), url, tuple((str(k), str(v)) for k, v in headers.items()), body)


def forget() -> None:
    global _last, _described
    _last = _described = None
    _inputs.clear()


def mask_header(name: str, value: str) -> str:
    if name.lower() not in SECRET_HEADERS:
        return mask(value)
    scheme, _, rest = value.partition(" ")
    return f"{scheme} ***" if rest else "***"


def mask(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return SECRET_KEYS.sub(r'\1"***"', text)


def curl(request: Sent) -> str:
    parts = ["curl", "-X", request.method, shlex.quote(mask(request.url))]
    for name, value in request.headers:
        if name.lower() not in SKIPPED_HEADERS:
            parts += ["-H", shlex.quote(f"{name}: {mask_header(name, value)}")]
    if request.body:
        text = request.body.decode("utf-8", "replace")
        text = text if len(text) <= MAX_BODY else text[:MAX_BODY] + "...(cut)"
        parts += ["-d", shlex.quote(mask(text))]
    return " ".join(parts)


def reproduction() -> str:
    request = _described or _last
    return curl(request) if request is not None else ""


# The cases a check generated (schemathesis), in order: their count and digest show that a run is repeatable.
_inputs: list[str] = []


def note_input(text: str) -> None:
    _inputs.append(text)


def inputs() -> list[str]:
    return list(_inputs)
