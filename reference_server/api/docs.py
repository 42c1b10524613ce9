"""The OpenAPI document and an offline Swagger UI (assets from the swagger-ui-py package)."""

from __future__ import annotations

import hashlib
import mimetypes
from importlib.resources import files

from quart import Blueprint, Response, abort, redirect, request

from ..domain.errors import NotFound

blueprint = Blueprint("docs", __name__)


@blueprint.before_request
async def served_only_when_enabled() -> None:
    """The routes exist either way (an undeclared method gets 405, as everywhere); with the docs off (the
    default) each answers 404, which the spec declares."""
    from .context import services

    if not services().settings.http.openapi.enabled:
        raise NotFound("Not Found")

_ASSETS = files("swagger_ui") / "static"
_INDEX = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8"><title>SMSGate API</title>
  <link rel="stylesheet" href="/api/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/api/docs/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/api/docs/swagger-ui-bundle.js"></script>
  <script src="/api/docs/swagger-ui-standalone-preset.js"></script>
  <script>
    window.onload = () => {
      window.ui = SwaggerUIBundle({url: "/api/docs/doc.json", dom_id: "#swagger-ui", deepLinking: true,
        presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout"});
    };
  </script>
</body>
</html>
"""


@blueprint.get("/api")
@blueprint.get("/api/")
async def api_root() -> Response:
    return redirect("/api/docs", 301)  # type: ignore[return-value]


@blueprint.get("/api/docs")
@blueprint.get("/api/docs/")
@blueprint.get("/api/docs/index.html")
async def swagger_ui() -> Response:
    return Response(_INDEX, content_type="text/html; charset=utf-8")


@blueprint.get("/api/docs/doc.json")
async def document() -> Response:
    from openapi import spec_json_bytes  # the spec loads only when the docs are served

    body = spec_json_bytes()
    etag = 'W/"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    if request.headers.get("If-None-Match") == etag:
        return Response("", status=304, headers={"ETag": etag})
    return Response(body, content_type="application/json", headers={"ETag": etag})


@blueprint.get("/api/docs/<string:asset>")
async def asset(asset: str) -> Response:
    resource = _ASSETS / asset
    if "/" in asset or asset.startswith(".") or not resource.is_file():
        abort(404)
    content_type = mimetypes.guess_type(asset)[0] or "application/octet-stream"
    return Response(resource.read_bytes(), content_type=content_type,
                    headers={"Cache-Control": "public, max-age=86400"})
