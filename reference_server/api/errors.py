"""Every failure leaves as JSON `{"message": ...}` with the status its kind implies; never a traceback."""

from __future__ import annotations

import logging

from quart import Quart, Response, request
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from ..domain import errors
from ..storage.database import DatabaseUnavailable
from ..storage.deadline import CommitUnknown, RequestExpired
from .responses import error_response

log = logging.getLogger(__name__)

STATUS_OF: dict[type[errors.DomainError], int] = {
    errors.InvalidInput: 400,
    errors.NotAuthenticated: 401,
    errors.NotPermitted: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.NotImplementedHere: 501,
    errors.Unavailable: 503,
    errors.RateLimited: 429,
}

# Upstream authenticates before routing: an unknown path (or a wrong method) under these prefixes is 401
# without credentials.
AUTHENTICATED_PREFIXES = ("/api/3rdparty/v1/", "/api/mobile/v1/")
# A body too slow (408) or too large (413): the client may still be sending it, and would otherwise hold the
# connection as long as it likes.
UNREAD_BODY = (408, 413)
RETRY_AFTER = "5"  # seconds, on a 503 for want of the database
COMMIT_UNKNOWN = "the database did not confirm in time: the request may have taken effect; retry it with the same id"


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(errors.DomainError)
    async def domain_error(exc: errors.DomainError) -> Response:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, errors.RateLimited) else None
        status = next((STATUS_OF[kind] for kind in type(exc).__mro__ if kind in STATUS_OF), 500)
        return error_response(status, exc.message, headers)

    @app.errorhandler(DatabaseUnavailable)
    @app.errorhandler(RequestExpired)
    async def database_unavailable(_exc: Exception) -> Response:
        return error_response(503, "database unavailable, try again later", {"Retry-After": RETRY_AFTER})

    @app.errorhandler(CommitUnknown)
    async def commit_unknown(_exc: CommitUnknown) -> Response:
        return error_response(504, COMMIT_UNKNOWN)

    @app.errorhandler(IntegrityError)
    async def conflicting_write(_exc: IntegrityError) -> Response:
        # A write that lost a race with a delete: e.g. the user or device it refers to was just removed.
        log.warning("conflicting write on %s %s", request.method, request.path)
        return error_response(409, "conflicting change, the data it refers to no longer exists")

    @app.errorhandler(DataError)
    async def unstorable_value(_exc: DataError) -> Response:
        # PostgreSQL stores no NUL character in text (SQLite and MariaDB do): the client's value, not our fault.
        log.info("a value the database cannot store on %s %s", request.method, request.path)
        return error_response(400, "a value cannot be stored: text may not contain NUL characters")

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if status in (404, 405) and request.path.startswith(AUTHENTICATED_PREFIXES) and not request.headers.get(
            "Authorization"
        ):
            return error_response(401, "Unauthorized")
        headers = {"Allow": ", ".join(sorted(exc.valid_methods or []))} if isinstance(exc, MethodNotAllowed) else None
        if status in UNREAD_BODY:
            headers = {"Connection": "close"}  # the rest of the body is never read: end the connection
        return error_response(status, exc.name, headers)

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "failed to handle request")
