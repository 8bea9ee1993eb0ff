"""An in-process publisher: records are 'acknowledged' at once (tests and benchmarks)."""

from __future__ import annotations

from collections.abc import Sequence

from producers.kafka.publisher import Record
from producers.retry import Deadline


class MemoryPublisher:
    """In-process publisher for tests and simulations: records are 'acknowledged' at once."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    async def publish(self, records: Sequence[Record], *, deadline: Deadline | None = None) -> None:
        self.records.extend(records)

    async def close(self) -> None:
        return None
