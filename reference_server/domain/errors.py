"""Domain failures. The HTTP layer maps each kind to a status code; the message is shown to the client."""


class DomainError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    """The request is well-formed but breaks a rule (400)."""


class NotAuthenticated(DomainError):
    """No valid credentials (401)."""


class NotPermitted(DomainError):
    """Authenticated, but not allowed to do this (403)."""


class NotFound(DomainError):
    """The addressed thing does not exist for this caller (404)."""


class Conflict(DomainError):
    """The state of the thing forbids the request (409)."""


class NotImplementedHere(DomainError):
    """A route of the API that this server answers with 501, as upstream does."""


class Unavailable(DomainError):
    """A limit or dependency makes the request impossible right now (503)."""


class RateLimited(DomainError):
    """Too many attempts from this client for now (429, with Retry-After in seconds)."""

    def __init__(self, message: str, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after
