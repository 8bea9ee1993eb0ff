"""Typed failures of the LiveCoinWatch API, matched on the HTTP/API code, never on text.

No exception here ever carries request headers, so the API key cannot leak through an error
message or a traceback.
"""

from __future__ import annotations

from producers.clock import utc_datetime
from producers.retry import TransientError


class ApiError(Exception):
    """Any failure talking to LiveCoinWatch."""

    def __init__(self, message: str, *, status: int | None = None, endpoint: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.endpoint = endpoint


class RetryableApiError(ApiError, TransientError):
    """A failure worth retrying with backoff: 429, 500, 503, timeouts, connection errors."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        endpoint: str = "",
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message, status=status, endpoint=endpoint)
        self.retry_after_seconds = retry_after_seconds


class RateLimitedError(RetryableApiError):
    """HTTP 429: too many calls, or the daily credits are spent."""


class ServerUnavailableError(RetryableApiError):
    """HTTP 500 or 503 (503 is also the maintenance answer)."""


class TransportError(RetryableApiError):
    """Timeout or connection failure: no HTTP answer at all."""


class AuthenticationError(ApiError):
    """HTTP 401: the key is missing or wrong. Retrying cannot help."""


class RequestRejectedError(ApiError):
    """Any other 4xx (400, 403, 404, 405, 406, 410): a bug or a plan limit, not transient."""


class UnexpectedStatusError(ApiError):
    """A status outside the documented list (a proxy's 502 or 504, a redirect): not retried
    within the call, but a later call may well succeed."""


class MalformedResponseError(ApiError):
    """The answer was not the JSON shape the endpoint documents."""

    def __init__(self, message: str, *, endpoint: str = "", body: str = "") -> None:
        super().__init__(message, endpoint=endpoint)
        self.body = body


class CreditsExhaustedError(Exception):
    """No credits left for this budget until the 00:00 UTC reset; ``reason`` says whether
    they were spent (by us or by others) or today's allotment is too small for a cycle."""

    def __init__(self, resume_at_ms: int, reason: str = "credits exhausted") -> None:
        until = utc_datetime(resume_at_ms).isoformat(timespec="seconds").replace("+00:00", "Z")
        super().__init__(f"{reason} (until {until})")
        self.resume_at_ms = resume_at_ms
        self.reason = reason


def missing_key_message() -> str:
    return (
        "LiveCoinWatch rejected the request with HTTP 401: the API key is missing or invalid. "
        "Set COINS_LCW_API_KEY to your key (https://www.livecoinwatch.com/tools/api), or unset "
        "it to run the demo source."
    )


class DailyCreditsExhaustedError(ApiError):
    """HTTP 429 that means the key's daily credits are spent (``/credits`` confirmed it, or
    refused too): final until the 00:00 UTC reset, so it is never retried."""


class ApiUnavailableError(ApiError):
    """The API failed so many calls in a row, each after every retry, that it is down."""
