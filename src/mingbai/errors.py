"""Errors that carry a reason a person can act on.

Adapters translate them: HTTP 4xx with the reason, an SMS that says what to send, a CLI
message with a non-zero exit. They are never a 500.
"""

from __future__ import annotations


class MingbaiError(Exception):
    """Base of every expected, explainable failure."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(MingbaiError):
    status_code = 422
    code = "invalid_input"


class NotFound(MingbaiError):
    status_code = 404
    code = "not_found"


class Conflict(MingbaiError):
    status_code = 409
    code = "conflict"


class Forbidden(MingbaiError):
    status_code = 403
    code = "forbidden"
