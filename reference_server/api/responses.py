"""JSON responses. Every body the API writes goes through here."""

from __future__ import annotations

import json
from typing import Any

from quart import Response


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status=status, headers=headers, content_type="application/json")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"message": message}, status, headers)


def empty(status: int = 204) -> Response:
    response = Response("", status=status)
    if status == 204:  # no content, so no content type (Quart would default to text/html)
        del response.headers["Content-Type"]
    return response
