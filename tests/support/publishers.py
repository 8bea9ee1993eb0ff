"""A publisher standing for a broker that is down, for the runners' unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from producers.publisher import Deadline, MemoryPublisher, PublishTimeoutError, Record
from tests.support.waiting import eventually_async


class UnreachableBroker(MemoryPublisher):
    """Acknowledges the first ``let_through`` publishes, then nothing: a publish only ends by
    giving up once the runner sets its shutdown deadline. ``refusing`` is set when the first
    unacknowledged publish starts, so a test can stop the runner exactly then."""

    def __init__(self, let_through: int = 0) -> None:
        super().__init__()
        self.let_through = let_through
        self.refusing = asyncio.Event()

    async def publish(self, records: Sequence[Record], *, deadline: Deadline | None = None) -> None:
        if self.let_through > 0:
            self.let_through -= 1
            await super().publish(records)
            return
        self.refusing.set()
        await eventually_async(
            lambda: deadline is not None and deadline.at_ms is not None,
            within=10,
            what="the runner to set a shutdown deadline",
            interval=0.001,
        )
        raise PublishTimeoutError(len(records))
