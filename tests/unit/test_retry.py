"""The one retry helper and the one deadline: attempts, waits, jitter, Retry-After, deadlines,
which failures are retried, sync and async alike. Clocks and sleeps are injected: no test
waits for real."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from producers.errors import RateLimitedError, RetryableApiError
from producers.retry import (
    Deadline,
    NotReadyError,
    RetryPolicy,
    TransientError,
    retry_async,
    retry_sync,
)
from tests.support.fake_ksqldb import FakeClock


def no_jitter(low: float, high: float) -> float:
    return high


@dataclass
class Clock(FakeClock):
    """Seconds that only pass when someone sleeps, asynchronously too. ``retry`` runs the helper
    (``retry_async`` when ``asynchronous``) on this clock: its sleep, its time, no jitter unless a
    test passes ``uniform``, and a deadline ``deadline_s`` from now when given."""

    now: float = 100.0

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def retry(
        self,
        operation: Callable[[], Any],
        policy: RetryPolicy,
        deadline_s: float | None = None,
        *,
        asynchronous: bool = False,
        **options: Any,
    ) -> Any:
        deadline = Deadline.after(deadline_s, self) if deadline_s is not None else None
        given = {"deadline": deadline, "clock": self, "uniform": no_jitter, **options}
        if asynchronous:
            return asyncio.run(retry_async(operation, policy, sleep=self.async_sleep, **given))
        return retry_sync(operation, policy, sleep=self.sleep, **given)


def failing(times: int, error: Callable[[], BaseException], clock: Clock) -> Callable[[], str]:
    """An operation that raises ``error()`` ``times`` times, then answers "done"."""
    calls: list[float] = []

    def operation() -> str:
        calls.append(clock.now)
        if len(calls) <= times:
            raise error()
        return "done"

    operation.calls = calls  # type: ignore[attr-defined]
    return operation


def test_transient_failures_are_retried_with_doubling_waits_up_to_the_maximum() -> None:
    clock = Clock()
    operation = failing(5, lambda: TransientError("503"), clock)
    policy = RetryPolicy(attempts=6, initial_seconds=1.0, max_seconds=5.0)

    result = clock.retry(operation, policy)

    assert result == "done"
    assert clock.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_the_last_failure_is_raised_as_is_after_the_last_attempt() -> None:
    clock = Clock()
    operation = failing(10, lambda: TransientError("still 503"), clock)

    with pytest.raises(TransientError, match="still 503"):
        clock.retry(operation, RetryPolicy(attempts=3))

    assert len(operation.calls) == 3  # type: ignore[attr-defined]
    assert len(clock.sleeps) == 2


def test_failures_the_policy_does_not_name_are_raised_at_once() -> None:
    clock = Clock()
    operation = failing(1, lambda: ValueError("bad request"), clock)

    with pytest.raises(ValueError, match="bad request"):
        clock.retry(operation, RetryPolicy(attempts=5))

    assert clock.sleeps == []


def test_retry_on_takes_exception_types_or_a_predicate() -> None:
    by_type = RetryPolicy(retry_on=(KeyError,))
    by_predicate = RetryPolicy(retry_on=lambda error: "again" in str(error))

    assert by_type.retries(KeyError("x"))
    assert not by_type.retries(TransientError())
    assert by_predicate.retries(OSError("try again"))
    assert not by_predicate.retries(OSError("no"))


def test_jitter_stays_in_the_upper_half_of_each_window() -> None:
    policy = RetryPolicy(initial_seconds=2.0, max_seconds=60.0)
    draws: list[tuple[float, float]] = []

    def record(low: float, high: float) -> float:
        draws.append((low, high))
        return low

    waits = [policy.backoff_seconds(attempt, None, record) for attempt in (1, 2, 3, 7)]

    assert draws == [(1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (30.0, 60.0)]
    assert waits == [1.0, 2.0, 4.0, 30.0]
    real = [policy.backoff_seconds(3, None) for _ in range(200)]
    assert all(4.0 <= wait <= 8.0 for wait in real)


def test_retry_after_from_the_server_wins_but_never_beyond_the_maximum() -> None:
    policy = RetryPolicy(initial_seconds=1.0, max_seconds=30.0)

    assert policy.backoff_seconds(1, RateLimitedError("429", retry_after_seconds=7)) == 7.0
    assert policy.backoff_seconds(1, RateLimitedError("429", retry_after_seconds=300)) == 30.0
    # An unusable Retry-After falls back to the backoff.
    unknown = RateLimitedError("429", retry_after_seconds=None)
    assert policy.backoff_seconds(2, unknown, no_jitter) == 2.0


def test_api_errors_worth_retrying_are_transient_by_default() -> None:
    clock = Clock()
    operation = failing(2, lambda: RetryableApiError("HTTP 500", status=500), clock)

    assert clock.retry(operation, RetryPolicy()) == "done"


def test_a_poll_waits_its_interval_and_fails_once_the_deadline_passed() -> None:
    clock = Clock()
    operation = failing(100, lambda: NotReadyError("status PENDING"), clock)

    with pytest.raises(NotReadyError, match="status PENDING"):
        clock.retry(operation, RetryPolicy.every(2.0), deadline_s=5.0)

    # Waits never end past the deadline, and one last look happens at the deadline itself.
    assert clock.sleeps == [2.0, 2.0, 1.0]
    assert operation.calls == [100.0, 102.0, 104.0, 105.0]  # type: ignore[attr-defined]


def test_the_policy_deadline_and_a_given_deadline_the_earlier_wins() -> None:
    clock = Clock()
    operation = failing(100, lambda: TransientError("down"), clock)
    policy = RetryPolicy(attempts=None, initial_seconds=1.0, max_seconds=1.0, deadline_seconds=3)

    with pytest.raises(TransientError):
        clock.retry(operation, policy, deadline_s=10.0)

    assert clock.now == 103.0


def test_a_policy_without_attempt_limit_needs_a_deadline() -> None:
    with pytest.raises(ValueError, match="needs a deadline"):
        retry_sync(lambda: None, RetryPolicy(attempts=None))


def test_async_retries_use_the_injected_sleep() -> None:
    clock = Clock()
    calls = 0

    async def operation() -> int:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise TransientError("not yet")
        return calls

    result = clock.retry(operation, RetryPolicy(initial_seconds=0.5), asynchronous=True)

    assert result == 3
    assert clock.sleeps == [0.5, 1.0]


def test_async_retries_await_what_a_plain_callable_returns() -> None:
    clock = Clock()
    answers: list[BaseException | str] = [TransientError("first"), "second"]

    async def answer() -> str:
        value = answers.pop(0)
        if isinstance(value, BaseException):
            raise value
        return value

    result = clock.retry(lambda: answer(), RetryPolicy(), asynchronous=True)

    assert result == "second"
    assert len(clock.sleeps) == 1


def test_an_unarmed_deadline_never_passes_until_armed_mid_retry() -> None:
    clock = Clock()
    deadline = Deadline(clock=clock)
    assert not deadline.armed
    assert deadline.remaining == math.inf
    assert not deadline.expired
    calls = 0

    async def operation() -> None:
        nonlocal calls
        calls += 1
        if calls == 4:
            deadline.arm(1.5)  # a shutdown request bounds the retries that are under way
        raise TransientError("broker down")

    policy = RetryPolicy(attempts=None, initial_seconds=1.0, max_seconds=1.0)
    with pytest.raises(TransientError):
        clock.retry(operation, policy, deadline=deadline, asynchronous=True)

    assert deadline.armed
    assert deadline.expired
    assert deadline.remaining == 0.0
    assert clock.sleeps == [1.0, 1.0, 1.0, 1.0, 0.5]
    assert calls == 6


def test_each_wait_is_logged_with_the_attempt_and_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    operation = failing(1, lambda: TransientError("HTTP 503"), clock)
    caplog.set_level(logging.WARNING, logger="producers.retry")

    clock.retry(operation, RetryPolicy(attempts=3, initial_seconds=2.0), describe="GET /thing")

    assert caplog.messages == [
        "retrying GET /thing after attempt 1/3 failed: HTTP 503 (next in 2.00s)"
    ]


def test_polls_are_quiet_without_a_description(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    operation = failing(3, lambda: NotReadyError("not yet"), clock)
    caplog.set_level(logging.DEBUG)

    clock.retry(operation, RetryPolicy.every(1.0), deadline_s=10)

    assert caplog.records == []


def test_a_policy_may_give_up_when_the_next_wait_would_pass_the_deadline() -> None:
    clock = Clock()
    operation = failing(100, lambda: TransientError("broker down"), clock)
    policy = RetryPolicy(
        attempts=None, initial_seconds=2.0, max_seconds=2.0, wait_until_deadline=False
    )

    with pytest.raises(TransientError):
        clock.retry(operation, policy, deadline_s=5.0)

    # At 104 the next 2 s wait would end past 105: no wait, no attempt beyond the deadline.
    assert clock.sleeps == [2.0, 2.0]
    assert operation.calls == [100.0, 102.0, 104.0]  # type: ignore[attr-defined]
