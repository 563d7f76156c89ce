"""Errors that carry a reason a person can act on.

Adapters translate them: HTTP 4xx with the reason, an SMS that says what to send, a CLI
message with a non-zero exit. They are never a 500.
"""

from __future__ import annotations


class MingbaiError(Exception):
    """Base of every expected, explainable failure."""

    status_code = 400
    code = "bad_request"
    #: seconds after which trying again may succeed (HTTP Retry-After), when that is known
    retry_after: int | None = None

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


class TooManyRequests(MingbaiError):
    """A rate limit was reached: not refused for good, only for ``retry_after`` seconds."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, retry_after)


class TooLarge(MingbaiError):
    status_code = 413
    code = "too_large"
