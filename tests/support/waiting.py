"""The one way a test waits for something that happens later: a deadline and a poll.

Prefer an event when the code under test can set one; poll with ``eventually`` only what a test
cannot be told (a log line of a subprocess, rows a broker or an engine makes visible later).
A probe that raises fails at once (a process that died, a task that failed); a probe that
returns a falsy value is asked again until the deadline, and the failure names what was awaited
and shows the last value seen.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

POLL_INTERVAL_S = 0.05


def _expired(what: str, within: float, last: str) -> AssertionError:
    return AssertionError(f"timed out after {within:g} s waiting for {what}; last value: {last}")


def eventually(
    probe: Callable[[], T],
    *,
    within: float,
    what: str,
    until: Callable[[T], object] = bool,
    describe: Callable[[T], str] = repr,
    interval: float = POLL_INTERVAL_S,
) -> T:
    """Call ``probe`` until ``until(value)`` holds and return that value (blocking)."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if until(value):
            return value
        if time.monotonic() >= deadline:
            raise _expired(what, within, describe(value))
        time.sleep(interval)


@overload
async def eventually_async(
    probe: Callable[[], Awaitable[T]],
    *,
    within: float,
    what: str,
    until: Callable[[T], object] = ...,
    describe: Callable[[T], str] = ...,
    interval: float = ...,
) -> T: ...


@overload
async def eventually_async(
    probe: Callable[[], T],
    *,
    within: float,
    what: str,
    until: Callable[[T], object] = ...,
    describe: Callable[[T], str] = ...,
    interval: float = ...,
) -> T: ...


async def eventually_async(
    probe: Callable[[], Any],
    *,
    within: float,
    what: str,
    until: Callable[[Any], object] = bool,
    describe: Callable[[Any], str] = repr,
    interval: float = POLL_INTERVAL_S,
) -> Any:
    """``eventually`` for a running event loop: the probe may be a coroutine function."""
    deadline = time.monotonic() + within
    while True:
        answer = probe()
        value = await answer if inspect.isawaitable(answer) else answer
        if until(value):
            return value
        if time.monotonic() >= deadline:
            raise _expired(what, within, describe(value))
        await asyncio.sleep(interval)
