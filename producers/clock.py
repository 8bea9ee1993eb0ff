"""Time as a dependency, so budget arithmetic and pacing can run a whole day in milliseconds."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable
from typing import Protocol

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


class Clock(Protocol):
    def now_ms(self) -> int:
        """Current UTC time in epoch milliseconds."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    async def wait(self, seconds: float, stop: asyncio.Event) -> bool:
        """Sleep ``seconds`` or until ``stop`` is set; True when stopped."""
        ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def wait(self, seconds: float, stop: asyncio.Event) -> bool:
        if stop.is_set():
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
        return stop.is_set()


def seconds_clock(clock: Clock) -> Callable[[], float]:
    """``clock`` in seconds, for a ``Deadline`` that follows it (a virtual clock in tests)."""
    return lambda: clock.now_ms() / 1000


def utc_datetime(epoch_ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)


def epoch_ms(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every time in this project is UTC-aware")
    return int(moment.timestamp() * 1000)


def day_start_ms(day: dt.date) -> int:
    return epoch_ms(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC))


def noon_ms(day: dt.date) -> int:
    """The daily close instant of ``day``: 12:00 UTC."""
    return day_start_ms(day) + 12 * HOUR_MS


def utc_day(epoch_ms_value: int) -> dt.date:
    return utc_datetime(epoch_ms_value).date()


def next_reset_ms(now_ms: int) -> int:
    """The next 00:00 UTC, when LiveCoinWatch resets the daily credits."""
    return (now_ms // DAY_MS + 1) * DAY_MS
