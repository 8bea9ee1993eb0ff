"""What the compacted portfolio topic holds now: the latest record of every key."""

from __future__ import annotations

import datetime as dt

from portfolio.messages import Published, decode
from producers.kafka.connection import KafkaConnection
from producers.kafka.reader import read_topic


async def read_published(connection: KafkaConnection, topic: str) -> dict[bytes, Published]:
    """Latest record per key (absent topic = nothing published yet)."""
    latest: dict[bytes, Published] = {}
    for key, value in await read_topic(connection, topic):
        published = decode(key, value)
        if published is not None:
            latest[published.key] = published
    return latest


def earliest_day(published: dict[bytes, Published]) -> dt.date | None:
    """UTC day of the earliest live transaction of any portfolio (None when there is none)."""
    times = [p.fields["timestamp_ms"] for p in published.values() if p.live and p.fields]
    if not times:
        return None
    return dt.datetime.fromtimestamp(min(times) / 1000, tz=dt.UTC).date()


async def earliest_transaction_day(connection: KafkaConnection, topic: str) -> dt.date | None:
    return earliest_day(await read_published(connection, topic))
