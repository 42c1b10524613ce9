"""JWT routes of the 3rd-party API: issue, refresh (rotation), revoke."""

from __future__ import annotations

from quart import Blueprint, Response, g, request
from quart.blueprints import BlueprintSetupState
from werkzeug.routing import BaseConverter

from ..domain.clock import format_time
from ..domain.errors import NotImplementedHere, NotPermitted
from ..domain.ids import check_client_id
from ..domain.tokens import REFRESH_SCOPE, TokenPair, TokenService
from .auth import authorization, user_route
from .context import services
from .responses import empty, json_response
from .schemas import TokenRequest, parse_json

blueprint = Blueprint("tokens", __name__, url_prefix="/api/3rdparty/v1/auth")


class JtiConverter(BaseConverter):
    """A token id: any path segment but `refresh`, so that `/token/refresh` is only the refresh route and its
    `Allow` lists only what the spec declares there (upstream's router would also take DELETE on it, as a
    revocation of a token whose id is `refresh`, which cannot exist)."""

    regex = r"(?!refresh(?:/|$))[^/]+"


@blueprint.record_once
def _register_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters["jti"] = JtiConverter


def _service() -> TokenService:
    tokens = services().tokens
    if tokens is None:
        raise NotImplementedHere("token service disabled, contact your administrator")
    return tokens


def _answer(pair: TokenPair) -> Response:
    expires_at = format_time(pair.expires_at)
    # Upstream's snake_case keys, plus the camelCase ones the official Python client reads.
    return json_response({
        "id": pair.jti, "token_type": "Bearer", "access_token": pair.access_token,
        "refresh_token": pair.refresh_token, "expires_at": expires_at,
        "tokenType": "Bearer", "accessToken": pair.access_token, "refreshToken": pair.refresh_token,
        "expiresAt": expires_at,
    }, 201)


@blueprint.post("/token")
@user_route("tokens:manage")
async def issue() -> Response:
    tokens = _service()
    body = parse_json(TokenRequest, await request.get_data())
    held = g.principal.scopes
    if "all:any" not in held and not set(body.scopes) <= held:  # ours: a token cannot mint a wider one
        raise NotPermitted("a token may only issue scopes it holds")
    return _answer(await tokens.issue(g.principal.user_id, body.scopes, body.ttl))


@blueprint.post("/token/refresh")
@user_route(REFRESH_SCOPE, exact=True)
async def refresh() -> Response:
    return _answer(await _service().refresh(authorization()[1]))


@blueprint.delete("/token/<jti:jti>")
@user_route("tokens:manage")
async def revoke(jti: str) -> Response:
    await _service().revoke(g.principal.user_id, check_client_id("token id", jti))
    return empty()
