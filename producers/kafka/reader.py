"""Reading a topic back up to the end it has now: the one bounded reader of the project.

Backfill progress, alert state and the portfolio's compacted topic are all read this way at
start: every record (or each partition's tail) up to the end offsets taken when the read
begins, so a read finishes even while producers keep writing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition

from producers.kafka.connection import KafkaConnection
from producers.kafka.topics import topic_partitions
from producers.retry import Deadline

READ_TIMEOUT_S = 30.0


class KeyValue(NamedTuple):
    """Key and value of one record, as they are on the topic; either may be null."""

    key: bytes | None
    value: bytes | None


async def read_partitions(
    consumer: AIOKafkaConsumer, start: dict[TopicPartition, int], end: dict[TopicPartition, int]
) -> list[KeyValue]:
    """Every record in [start, end) of each partition, in order within a partition."""
    wanted = {tp: off for tp, off in end.items() if off > start[tp]}
    if not wanted:
        return []
    consumer.assign(list(wanted))
    for tp in wanted:
        consumer.seek(tp, start[tp])
    records: list[KeyValue] = []
    remaining = dict(wanted)
    deadline = Deadline.after(READ_TIMEOUT_S)
    while remaining:
        if deadline.expired:
            topics = ", ".join(sorted({tp.topic for tp in remaining}))
            raise TimeoutError(f"could not read {topics} from Kafka within {READ_TIMEOUT_S}s")
        batches = await consumer.getmany(timeout_ms=500)
        for tp, messages in batches.items():
            for message in messages:
                if message.offset < remaining.get(tp, -1):
                    records.append(KeyValue(message.key, message.value))
            if messages and messages[-1].offset >= remaining.get(tp, 0) - 1:
                remaining.pop(tp, None)
        # Offsets can be skipped (compaction, transaction markers): check positions too.
        for tp in list(remaining):
            if await consumer.position(tp) >= remaining[tp]:
                remaining.pop(tp)
    return records


async def read_topic(
    connection: KafkaConnection,
    topic: str,
    *,
    start: Mapping[int, int] | None = None,
    tail: int | None = None,
) -> list[KeyValue]:
    """Every record now on ``topic`` (none when it does not exist).

    ``start`` maps a partition to the first offset wanted (default: the partition's beginning);
    ``tail`` keeps only the last ``tail`` records of each partition.
    """
    partitions = [TopicPartition(topic, p) for p in await topic_partitions(connection, topic)]
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(
        **connection.client_options(),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        begin = await consumer.beginning_offsets(partitions)
        end = await consumer.end_offsets(partitions)
        first = {
            tp: max(
                begin[tp],
                (start or {}).get(tp.partition, begin[tp]),
                end[tp] - tail if tail is not None else begin[tp],
            )
            for tp in partitions
        }
        return await read_partitions(consumer, first, end)
    finally:
        await consumer.stop()
