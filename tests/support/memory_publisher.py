"""In-process publishers: one that acknowledges at once (tests and benchmarks), one that stands
for a broker that is down."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from producers.kafka.publisher import PublishTimeoutError, Record
from producers.retry import Deadline
from tests.support.waiting import eventually_async


class MemoryPublisher:
    """In-process publisher for tests and simulations: records are 'acknowledged' at once."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    async def publish(self, records: Sequence[Record], *, deadline: Deadline | None = None) -> None:
        self.records.extend(records)

    async def close(self) -> None:
        return None


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
            lambda: deadline is not None and deadline.armed,
            within=10,
            what="the runner to set a shutdown deadline",
            interval=0.001,
        )
        raise PublishTimeoutError(len(records))
