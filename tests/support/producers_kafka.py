"""Kafka helpers for the producers' integration tests: read a whole topic back."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from producers.kafka.connection import KafkaConnection
from producers.kafka.topics import topic_partitions


@dataclass(frozen=True)
class ConsumedRecord:
    key: bytes | None
    value: bytes | None
    partition: int
    offset: int


async def read_topic(
    bootstrap: str, topic: str, within_seconds: float = 30.0
) -> list[ConsumedRecord]:
    """Every record currently on ``topic`` (all partitions, from the beginning)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        partitions = await topic_partitions(KafkaConnection(bootstrap_servers=bootstrap), topic)
        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return []
        end = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[ConsumedRecord] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_seconds
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            if loop.time() > deadline:
                raise TimeoutError(f"could not read {topic} to its end in {within_seconds}s")
            batches = await consumer.getmany(timeout_ms=500)
            for tp, messages in batches.items():
                records.extend(
                    ConsumedRecord(m.key, m.value, tp.partition, m.offset)
                    for m in messages
                    if m.offset < end[tp]
                )
        return records
    finally:
        await consumer.stop()
