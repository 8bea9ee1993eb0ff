"""The one way a test waits for something that happens later: a deadline and a poll.

Prefer an event when the code under test can set one; poll with ``eventually`` only what a test
cannot be told (a log line of a subprocess, rows a broker or an engine makes visible later).
A probe that raises fails at once (a process that died, a task that failed), unless the error
is one of ``retrying`` (a server still starting); a probe whose value does not satisfy ``until``
is asked again until the deadline, and the failure names what was awaited and shows the last
value (or retried error) seen.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

POLL_INTERVAL_S = 0.05


class _Deadline:
    def __init__(
        self,
        within: float,
        what: str,
        until: Callable[[Any], object],
        retrying: tuple[type[BaseException], ...],
    ) -> None:
        self.at, self.within, self.what = time.monotonic() + within, within, what
        self.until, self.retrying = until, retrying

    def reached(self, value: object) -> bool:
        """True once ``value`` satisfies the condition; raises once the deadline has passed."""
        if not isinstance(value, self.retrying) and self.until(value):
            return True
        if time.monotonic() >= self.at:
            shown = value if isinstance(value, str) else repr(value)
            raise AssertionError(
                f"timed out after {self.within:g} s waiting for {self.what}; last value: {shown}"
            )
        return False


def eventually(
    probe: Callable[[], T],
    *,
    within: float,
    what: str,
    until: Callable[[T], object] = bool,
    interval: float = POLL_INTERVAL_S,
    retrying: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``probe`` until ``until(value)`` holds and return that value (blocking)."""
    deadline = _Deadline(within, what, until, retrying)
    while True:
        try:
            value: Any = probe()
        except retrying as error:
            value = error
        if deadline.reached(value):
            return value  # type: ignore[no-any-return]
        time.sleep(interval)


@overload
async def eventually_async(
    probe: Callable[[], Awaitable[T]],
    *,
    within: float,
    what: str,
    until: Callable[[T], object] = ...,
    interval: float = ...,
) -> T: ...


@overload
async def eventually_async(
    probe: Callable[[], T],
    *,
    within: float,
    what: str,
    until: Callable[[T], object] = ...,
    interval: float = ...,
) -> T: ...


async def eventually_async(
    probe: Callable[[], Any],
    *,
    within: float,
    what: str,
    until: Callable[[Any], object] = bool,
    interval: float = POLL_INTERVAL_S,
) -> Any:
    """``eventually`` in a running event loop; ``probe`` may be a coroutine function."""
    deadline = _Deadline(within, what, until, ())
    while True:
        answer = probe()
        if deadline.reached(value := await answer if inspect.isawaitable(answer) else answer):
            return value
        await asyncio.sleep(interval)
