"""Feeds ClickHouse's Kafka tables through the real broker, on chDB and on a server alike.

Values are produced to the topic a Kafka table reads; each call returns once the table's
consumer group has committed past the acknowledged records, which the engine does only after
its materialized views ran (``embedded.clickhouse.wait_until_committed``). The offsets waited
for are the broker's acknowledgements, never a metadata lookup that can come back empty.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from embedded.clickhouse import (
    KafkaTable,
    end_offsets,
    find_kafka_table,
    run_statement,
    wait_for_table,
)
from producers.kafka.connection import KafkaConnection
from producers.retry import Deadline, RetryPolicy, retry_async

DEFAULT_TIMEOUT_S = 120.0  # a loaded CI machine; the engine itself flushes every 500 ms
GROUP_POLL = RetryPolicy(
    attempts=None,
    initial_seconds=0.2,
    max_seconds=1.0,
    retry_on=lambda error: isinstance(error, _GroupNotEmptyError | KafkaError),
)


class Delivered(NamedTuple):
    """Where the broker acknowledged one record."""

    topic: str
    partition: int
    offset: int


class KafkaFeeder:
    """``insert_values`` produces and waits for the table; ``drain`` waits for what is there."""

    def __init__(
        self,
        client: Any,
        tables: dict[str, KafkaTable],
        connection: KafkaConnection,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.client = client
        self.tables = tables
        self.connection = connection
        self.timeout_s = timeout_s

    def table(self, name: str | None = None, *, topic: str | None = None) -> KafkaTable:
        return find_kafka_table(self.tables, name, topic=topic)

    def insert_values(
        self,
        table: str,
        values: Sequence[bytes | str],
        *,
        topic: str | None = None,
        keys: Sequence[bytes | str | None] | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> list[Delivered]:
        """Produce ``values`` (in order) to ``table``'s topic; return once it consumed them.

        Returns where the broker put each value (partition, offset), in the order given.
        """
        target = self.table(table)
        topic = topic or target.topics[0]
        delivered = asyncio.run(
            produce(self.connection, topic, values, keys, partition, timestamp_ms)
        )
        wait_for_table(
            self.client, self.connection, target, next_offsets(delivered), self.timeout_s
        )
        return delivered

    def redeliver(self, tables: Sequence[str], start: Mapping[TopicPartition, int]) -> None:
        """Make ``tables`` read again from ``start``: detach them, rewind each consumer group
        once it is empty, attach them, and wait until they consumed everything again.

        Kafka accepts an offset commit from outside a group only while the group has no member;
        chDB keeps a detached table's member until the session timeout (about 45 s, measured),
        so the tables are detached together and wait out that timeout once.
        """
        targets = [self.table(name) for name in tables]
        for target in targets:
            self.client.command(f"DETACH TABLE {target.name}")
        for target in targets:
            rewind = {tp: offset for tp, offset in start.items() if tp.topic in target.topics}
            asyncio.run(rewind_group(self.connection, target.group, rewind, self.timeout_s))
        for target in targets:
            run_statement(self.client, f"ATTACH TABLE {target.name}")
        for target in targets:
            for topic in target.topics:
                self.drain(topic, target.name)

    def drain(self, topic: str, table: str | None = None, timeout: float | None = None) -> int:
        """Wait until the table reading ``topic`` consumed all it holds; return that count."""
        target = self.table(table, topic=topic if table is None else None)
        wait_s = timeout or self.timeout_s
        ends = asyncio.run(end_offsets(self.connection, topic, wait_s))
        wait_for_table(self.client, self.connection, target, ends, wait_s)
        return sum(ends.values())


async def produce(
    connection: KafkaConnection,
    topic: str,
    values: Sequence[bytes | str],
    keys: Sequence[bytes | str | None] | None = None,
    partition: int | None = None,
    timestamp_ms: int | None = None,
) -> list[Delivered]:
    """Send every value in order, wait for every acknowledgement; return where each landed."""
    if not values:
        raise ValueError(f"nothing to produce to {topic!r}")
    producer = AIOKafkaProducer(**connection.client_options(), acks="all")
    await producer.start()
    try:
        pending = [
            await producer.send(
                topic,
                _as_bytes(value),
                key=_as_bytes(keys[index]) if keys is not None else None,
                partition=partition,
                timestamp_ms=timestamp_ms,
            )
            for index, value in enumerate(values)
        ]
        acknowledged = [await future for future in pending]
    finally:
        await producer.stop()
    return [Delivered(record.topic, record.partition, record.offset) for record in acknowledged]


class _GroupNotEmptyError(Exception):
    """The group still has members: its offsets cannot be committed from outside yet."""


async def rewind_group(
    connection: KafkaConnection,
    group: str,
    start: Mapping[TopicPartition, int],
    timeout_s: float,
) -> None:
    """Commit ``start`` for ``group`` as soon as the group has no member left."""
    admin = AIOKafkaAdminClient(**connection.client_options())
    await admin.start()
    try:

        async def empty() -> None:
            (answer,) = await admin.describe_consumer_groups([group])
            states = [(g[2], len(g[5])) for g in answer.groups]
            if any(members for _, members in states):
                raise _GroupNotEmptyError(f"{group!r}: {states}")

        await retry_async(empty, GROUP_POLL, deadline=Deadline.after(timeout_s))
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        **connection.client_options(), group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(start))
        await consumer.commit(dict(start))
    finally:
        await consumer.stop()


def next_offsets(delivered: Sequence[Delivered]) -> dict[TopicPartition, int]:
    """The offset after the last delivered record, per partition: what a consumer must reach."""
    targets: dict[TopicPartition, int] = {}
    for record in delivered:
        tp = TopicPartition(record.topic, record.partition)
        targets[tp] = max(targets.get(tp, 0), record.offset + 1)
    return targets


def _as_bytes(value: bytes | str | None) -> bytes | None:
    if value is None:
        return None
    return value.encode("utf-8") if isinstance(value, str) else value
