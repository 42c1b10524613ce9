"""A failing check's reproduction: the request behind it as a `curl` line, secrets masked.

Every request the suite sends is noted (see `polite`); a failure message built by `describe()` marks the
request it is about. The reproduction is that request, else the check's last one. Checks run one at a time.
"""

from __future__ import annotations

import json
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
    answer: str = ""  # the response as shown in a report: status, headers, body excerpt (masked)


_last: Sent | None = None
_described: Sent | None = None
_secrets: set[str] = set()
SHOWN_HEADERS = ("content-type", "content-length", "location", "www-authenticate", "allow", "retry-after",
                 "cache-control", "x-total-count")
MAX_ANSWER = 2000
# Requests per API base URL and how many answered 404 (the whole run): an API that only ever answered 404 is
# probably at another prefix.
apis: dict[str, str] = {}  # name ("mobile", "3rd-party") -> base URL
api_answers: dict[str, list[int]] = {}  # name -> [requests, 404s]


def excerpt(text: str, limit: int = MAX_ANSWER) -> str:
    """A body for a report: JSON pretty-printed, cut at a line (never mid-token) with what was left out."""
    try:
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        pass
    text = mask(text)
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    cut = cut if cut > limit // 2 else limit
    return text[:cut] + f"\n... ({len(text) - cut} more characters)"


def answer(status: int, reason: str, headers: Mapping[str, str] | Any, text: str | None) -> str:
    lines = [f"HTTP {status} {reason}".rstrip()]
    lines += [f"{name}: {mask(str(value))}" for name, value in headers.items() if name.lower() in SHOWN_HEADERS]
    if text:
        lines += ["", excerpt(text)]
    return "\n".join(lines)


def received(url: str, status: int, reason: str = "", headers: Mapping[str, str] | Any = (),
             text: str | None = None) -> None:
    """The answer to the last request sent (headers at least; the body when it was read)."""
    global _last
    for name, base in apis.items():
        if url.startswith(base):
            counts = api_answers.setdefault(name, [0, 0])
            counts[0] += 1
            counts[1] += status == 404
    if _last is not None and _last.url == url:
        _last = Sent(_last.method, _last.url, _last.headers, _last.body, answer(status, reason, headers or {}, text))


def all_404() -> list[str]:
    """The APIs every request of the run to which answered 404."""
    return [name for name, (total, missing) in api_answers.items() if total and total == missing]


def add_secret(value: str | None) -> None:
    """A value masked wherever it appears in a reproduction (e.g. the private token, a password)."""
    if value and len(value) >= 4:
        _secrets.add(value)


def sent(method: str, url: str, headers: Mapping[str, str] | Any, body: bytes) -> None:
    global _last
    _last = Sent(method.upper(), url, tuple((str(k), str(v)) for k, v in headers.items()), body)


def described(method: str, url: str, headers: Mapping[str, str] | Any, body: bytes, answer_text: str = "") -> None:
    """A failure message is about this request: prefer it to whatever was sent after it."""
    global _described
    _described = Sent(method.upper(), url, tuple((str(k), str(v)) for k, v in headers.items()), body, answer_text)


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


def exchange() -> tuple[str, str]:
    """The request a failure is about (as curl) and its response (status, headers, body excerpt)."""
    request = _described or _last
    return (curl(request), request.answer) if request is not None else ("", "")


# The cases a check generated (schemathesis), in order: their count and digest show that a run is repeatable.
_inputs: list[str] = []


def note_input(text: str) -> None:
    _inputs.append(text)


def inputs() -> list[str]:
    return list(_inputs)
