"""The one retry helper: retryable failures only, bounded (attempts or a deadline), jittered.

LiveCoinWatch calls retry ``RetryableApiError``; Kafka calls pass their own ``retryable``
predicate and a deadline (a broker that is starting answers with retriable errors for a while).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from producers.errors import RetryableApiError

T = TypeVar("T")
log = logging.getLogger("producers.retry")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    initial_seconds: float = 1.0
    max_seconds: float = 60.0

    def backoff_seconds(self, attempt: int, error: BaseException | None) -> float:
        """Wait before the next attempt; ``attempt`` counts from 1 (the failed one)."""
        retry_after = getattr(error, "retry_after_seconds", None)
        if isinstance(retry_after, int | float) and retry_after >= 0:
            # The server said when; never wait longer than the bound, though.
            return float(min(retry_after, self.max_seconds))
        exponential = self.initial_seconds * 2 ** (attempt - 1)
        # "Full jitter" spreads clients that failed together over the whole window.
        return min(self.max_seconds, random.uniform(exponential / 2, exponential))


async def call_with_retry(
    policy: RetryPolicy,
    operation: Callable[[], Awaitable[T]],
    sleep: Callable[[float], Awaitable[None]],
    describe: str,
    *,
    retryable: Callable[[BaseException], bool] | None = None,
    deadline_s: float | None = None,
    log_retries: bool = True,
) -> T:
    """Run ``operation``, retrying what ``retryable`` accepts (default: ``RetryableApiError``).

    The bound is ``policy.attempts``, or ``deadline_s`` seconds when given; at the bound the
    last error is re-raised.
    """

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return policy.backoff_seconds(state.attempt_number, error)

    def before_sleep(state: RetryCallState) -> None:
        if not log_retries:
            return
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "retrying %s after attempt %d failed: %s (next in %.2fs)",
            describe,
            state.attempt_number,
            error,
            state.upcoming_sleep,
        )

    retrying = AsyncRetrying(
        retry=retry_if_exception(retryable or _is_retryable_api_error),
        stop=stop_after_delay(deadline_s)
        if deadline_s is not None
        else stop_after_attempt(policy.attempts),
        wait=wait,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await operation()
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover


def _is_retryable_api_error(error: BaseException) -> bool:
    return isinstance(error, RetryableApiError)
