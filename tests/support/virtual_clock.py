"""A clock that only moves when someone sleeps on it, so tests and benchmarks run a day in ms."""

from __future__ import annotations

import asyncio


class VirtualClock:
    """A clock that only moves when someone sleeps on it (simulations and tests)."""

    def __init__(self, start_ms: int) -> None:
        self._now_ms = start_ms
        self.slept_seconds = 0.0

    def now_ms(self) -> int:
        return self._now_ms

    def advance(self, seconds: float) -> None:
        self._now_ms += round(seconds * 1000)

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.slept_seconds += seconds
        self.advance(seconds)
        # Let other tasks run, as a real sleep would.
        await asyncio.sleep(0)

    async def wait(self, seconds: float, stop: asyncio.Event) -> bool:
        if stop.is_set():
            return True
        await self.sleep(seconds)
        return stop.is_set()
