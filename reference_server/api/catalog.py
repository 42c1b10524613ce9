"""RFC 9727 API catalog at /.well-known/api-catalog, with the links upstream publishes."""

from __future__ import annotations

from quart import Blueprint, Response, request

from .context import services
from .responses import json_response

blueprint = Blueprint("catalog", __name__)
CONTENT_TYPE = 'application/linkset+json; profile="https://www.rfc-editor.org/info/rfc9727"'


@blueprint.route("/.well-known/api-catalog", methods=["GET", "HEAD"])
async def api_catalog() -> Response:
    api_host = services().settings.http.api.host or request.host
    base = f"https://{api_host}{services().public_api_path}"
    body = {"linkset": [{
        "anchor": f"{base}/3rdparty/v1",
        "service-desc": [{"href": f"{base}/docs/doc.json", "type": "application/json"}],
        "service-doc": [{"href": "https://docs.sms-gate.app/", "type": "text/html"}],
        "status": [{"href": f"{base}/3rdparty/v1/health/ready", "type": "application/json"}],
    }]}
    response = json_response(body, headers={"Cache-Control": "public, max-age=3600"})
    response.content_type = CONTENT_TYPE
    return response
