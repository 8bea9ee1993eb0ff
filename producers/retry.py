"""The one way to retry and to wait: a policy, a deadline, and a sync and an async runner.

Every bounded retry and every poll loop of the product goes through ``retry_sync`` or
``retry_async`` (both on tenacity). A ``RetryPolicy`` says how many attempts, how long to wait
between them (exponential from ``initial_seconds`` up to ``max_seconds``, jittered or not),
for how long at most, and which failures deserve another attempt. A ``Deadline`` is the one
give-up time type: it can be armed later (a shutdown bounds a publish that is already
retrying), and tests give it a fake clock. A poll is a retry of ``NotReadyError``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception

__all__ = [
    "Deadline",
    "NotReadyError",
    "RetryPolicy",
    "TransientError",
    "retry_async",
    "retry_sync",
]

T = TypeVar("T")
log = logging.getLogger(__name__)

# 2**62 seconds is beyond any max_seconds; capping the exponent keeps the float finite.
_MAX_EXPONENT = 62


class TransientError(Exception):
    """A failure worth another attempt (the default of ``RetryPolicy.retry_on``)."""


class NotReadyError(TransientError):
    """A poll found its condition not met yet; the message says what it saw last."""


class Deadline:
    """A give-up time on a clock of seconds (``time.monotonic`` unless a test injects one).

    Unarmed, it never passes; ``arm`` sets it while work is under way.
    """

    def __init__(self, at: float | None = None, *, clock: Callable[[], float] = time.monotonic):
        self._at = at
        self._clock = clock

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock=clock)

    def arm(self, seconds: float) -> None:
        """Give up ``seconds`` from now."""
        self._at = self._clock() + seconds

    @property
    def armed(self) -> bool:
        return self._at is not None

    @property
    def remaining(self) -> float:
        """Seconds left; infinite while unarmed, never negative."""
        if self._at is None:
            return math.inf
        return max(0.0, self._at - self._clock())

    @property
    def expired(self) -> bool:
        return self.remaining <= 0.0


RetryOn = tuple[type[BaseException], ...] | Callable[[BaseException], bool]


@dataclass(frozen=True)
class RetryPolicy:
    """How to retry. ``attempts=None`` bounds the retries by a deadline only (a poll)."""

    attempts: int | None = 6
    initial_seconds: float = 1.0
    max_seconds: float = 60.0
    jitter: bool = True
    deadline_seconds: float | None = None
    retry_on: RetryOn = (TransientError,)
    # True: the last wait ends at the deadline for one more attempt (a poll). False: give up
    # as soon as the next wait would pass it (a shutdown wants its remaining time to exit).
    wait_until_deadline: bool = True

    @classmethod
    def every(cls, seconds: float, retry_on: RetryOn = (NotReadyError,)) -> RetryPolicy:
        """A poll: the same wait each time, until a deadline."""
        return cls(
            attempts=None,
            initial_seconds=seconds,
            max_seconds=seconds,
            jitter=False,
            retry_on=retry_on,
        )

    def retries(self, error: BaseException) -> bool:
        if isinstance(self.retry_on, tuple):
            return isinstance(error, self.retry_on)
        return self.retry_on(error)

    def backoff_seconds(
        self,
        attempt: int,
        error: BaseException | None,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> float:
        """Wait before the next attempt; ``attempt`` counts from 1 (the failed one)."""
        retry_after = getattr(error, "retry_after_seconds", None)
        if isinstance(retry_after, int | float) and retry_after >= 0:
            # The server said when; never wait longer than the bound, though.
            return float(min(retry_after, self.max_seconds))
        exponential = min(
            self.max_seconds, self.initial_seconds * 2.0 ** min(attempt - 1, _MAX_EXPONENT)
        )
        if not self.jitter:
            return exponential
        # Jitter spreads the clients that failed together over the second half of the window.
        return uniform(exponential / 2, exponential)


@dataclass
class _Bounds:
    policy: RetryPolicy
    deadlines: tuple[Deadline, ...]
    describe: str | None
    uniform: Callable[[float, float], float]

    @property
    def remaining(self) -> float:
        return min((deadline.remaining for deadline in self.deadlines), default=math.inf)

    def stop(self, state: RetryCallState) -> bool:
        attempts = self.policy.attempts
        out_of_attempts = attempts is not None and state.attempt_number >= attempts
        if not self.policy.wait_until_deadline and (state.upcoming_sleep or 0.0) > self.remaining:
            return True
        return out_of_attempts or self.remaining <= 0.0

    def wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        backoff = self.policy.backoff_seconds(state.attempt_number, error, self.uniform)
        return min(backoff, self.remaining) if self.policy.wait_until_deadline else backoff

    def tenacity_options(self) -> dict[str, Any]:
        return {
            "retry": retry_if_exception(self.policy.retries),
            "stop": self.stop,
            "wait": self.wait,
            "before_sleep": self.before_sleep,
            "reraise": True,
        }

    def before_sleep(self, state: RetryCallState) -> None:
        if self.describe is None:
            return
        error = state.outcome.exception() if state.outcome else None
        attempts = self.policy.attempts
        log.warning(
            "retrying %s after attempt %s failed: %s (next in %.2fs)",
            self.describe,
            state.attempt_number if attempts is None else f"{state.attempt_number}/{attempts}",
            error if str(error) else type(error).__name__,
            state.upcoming_sleep,
        )


def _bounds(
    policy: RetryPolicy,
    deadline: Deadline | None,
    clock: Callable[[], float],
    describe: str | None,
    uniform: Callable[[float, float], float],
) -> _Bounds:
    deadlines = [] if deadline is None else [deadline]
    if policy.deadline_seconds is not None:
        deadlines.append(Deadline.after(policy.deadline_seconds, clock))
    if policy.attempts is None and not deadlines:
        raise ValueError("a policy without an attempt limit needs a deadline")
    return _Bounds(policy, tuple(deadlines), describe, uniform)


def retry_sync(
    operation: Callable[[], T],
    policy: RetryPolicy,
    *,
    deadline: Deadline | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    describe: str | None = None,
    uniform: Callable[[float, float], float] = random.uniform,
) -> T:
    """``operation()`` until it returns, a failure ``policy`` does not retry, the last attempt or
    the deadline (the earlier of ``deadline`` and ``policy.deadline_seconds``); the last
    failure is re-raised as is. Waits never end past the deadline. ``describe`` names the
    operation in a warning before each wait (None: quiet, for polls)."""
    bounds = _bounds(policy, deadline, clock, describe, uniform)
    return Retrying(sleep=sleep, **bounds.tenacity_options())(operation)


async def retry_async(
    operation: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    deadline: Deadline | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    describe: str | None = None,
    uniform: Callable[[float, float], float] = random.uniform,
) -> T:
    """``retry_sync`` for a coroutine function, waiting with an awaitable ``sleep``."""
    bounds = _bounds(policy, deadline, clock, describe, uniform)
    retrying = AsyncRetrying(sleep=sleep, **bounds.tenacity_options())

    async def attempt() -> T:
        # tenacity awaits coroutine functions only; a lambda returning a coroutine is awaited here.
        return await operation()

    return await retrying(attempt)
