"""Root causes: a check that cannot do what it is about because a prerequisite failed (registration, a phone
that cannot start, credentials refused) raises `Blocked` naming the check that judges that prerequisite.

After the run (`resolve`), a blocked check whose root check failed is reported "blocked by <root>" (neither
failed nor passed) and the root is listed first; when the root check passed or did not run, the blocked check
is an ordinary failure with the same message (then the prerequisite failed only here).
"""

from __future__ import annotations

from typing import NoReturn

# The checks that judge each prerequisite.
NEW_USER = "registration::test_new_user"  # registration of a new user, and the credentials it returns
BASIC_JOIN = "registration::test_join_with_basic"  # a device joining a user with Basic
OTP_JOIN = "otp::test_join_with_a_code"  # a device joining with `Code <otp>`
SSE_OPENS = "sse::test_stream_opens"  # GET /events answers its headers at once
ROOTS = (NEW_USER, BASIC_JOIN, OTP_JOIN, SSE_OPENS)

# Credentials a registration returned that the target accepted once (each is tried once per run).
_proven: set[str] = set()


class Blocked(AssertionError):
    def __init__(self, by: str, why: str) -> None:
        super().__init__(why)
        self.by = by
        self.why = why


def block(by: str, why: str) -> NoReturn:
    raise Blocked(by, why)


def proven(credential: str) -> bool:
    return credential in _proven


def note_proven(credential: str) -> None:
    _proven.add(credential)
