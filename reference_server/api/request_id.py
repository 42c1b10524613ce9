"""`X-Request-ID` on every answer, as upstream's (Fiber's requestid middleware) carries one.

The client's own id is echoed when it is sane (1-128 printable ASCII characters, no spaces); otherwise a
new one is made. The id is kept in the ASGI scope (`scope["request_id"]`) so that log lines can name it,
and Hypercorn's access log prints it from the response header. `transport.guard_requests` (the app's HTTP edge)
puts it on every answer.
"""

from __future__ import annotations

import uuid
from typing import Any

HEADER = b"x-request-id"
MAX_LENGTH = 128


def sane(value: bytes) -> bool:
    return 0 < len(value) <= MAX_LENGTH and all(0x21 <= byte <= 0x7E for byte in value)


def request_id_of(scope: Any) -> str:
    """The request's id, made on first use: the client's when sane, else a new UUID."""
    if "request_id" not in scope:
        given = next((value for name, value in scope.get("headers", ()) if name.lower() == HEADER), b"")
        scope["request_id"] = given.decode("ascii") if sane(given) else str(uuid.uuid4())
    return str(scope["request_id"])


# Hypercorn's default access log line, followed by the answer's request id.
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(l)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" request_id=%({x-request-id}o)s'
