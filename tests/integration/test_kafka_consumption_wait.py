"""The shared wait-for-consumption logic against the real broker (issue 16 blockers 1 and 9).

Each test reproduces a failure the earlier feeder had on this broker: end offsets read from a
consumer's empty bootstrap metadata (so the wait "succeeded" on nothing), ``CancelledError``
from stopping a consumer right after starting it, and coordinator lookups failing on a fresh
broker (``GroupCoordinatorNotAvailableError``) instead of being retried.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from embedded.clickhouse import (
    ConsumptionTimeoutError,
    committed_offsets,
    create_topics,
    end_offsets,
    wait_until_committed,
)
from embedded.kafka_broker import NativeKafkaBroker
from producers.kafka.connection import KafkaConnection
from tests.support.kafka_feeder import next_offsets, produce

ROUNDS = 6  # the earlier feeder failed 6 of 6 times


def test_end_offsets_right_after_producing_to_a_new_topic_are_never_empty(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    connection = KafkaConnection(kafka_bootstrap)
    for round_number in range(ROUNDS):
        topic = unique_name(f"fresh{round_number}")
        asyncio.run(create_topics(connection, [topic], partitions=2))
        delivered = asyncio.run(produce(connection, topic, ["a", "b", "c"], partition=1))
        # a fresh client each time: its first metadata is empty until it asks for the topic
        ends = asyncio.run(end_offsets(connection, topic))
        assert ends == {TopicPartition(topic, 0): 0, TopicPartition(topic, 1): 3}
        assert next_offsets(delivered) == {TopicPartition(topic, 1): 3}


def test_a_group_that_never_consumes_times_out_with_what_it_committed(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    connection = KafkaConnection(kafka_bootstrap)
    topic = unique_name("unread")
    asyncio.run(create_topics(connection, [topic]))
    delivered = asyncio.run(produce(connection, topic, ["x"]))
    group = unique_name("nobody")
    with pytest.raises(ConsumptionTimeoutError, match=rf"{group}.*committed .*-1.*not .*1"):
        asyncio.run(wait_until_committed(connection, group, next_offsets(delivered), timeout_s=3.0))


def test_a_fresh_broker_answers_coordinator_lookups_after_retries(tmp_path: Path) -> None:
    # The first FindCoordinator on a new broker creates __consumer_offsets and answers
    # GROUP_COORDINATOR_NOT_AVAILABLE until it is ready; the wait must retry, not fail.
    workdir = Path(tempfile.mkdtemp(prefix="kafka-fresh-", dir=tmp_path))
    broker = NativeKafkaBroker(workdir)
    broker.start()
    try:
        connection = KafkaConnection(broker.bootstrap)
        topic = "fresh-broker-topic"
        asyncio.run(create_topics(connection, [topic]))
        partition = TopicPartition(topic, 0)
        assert asyncio.run(committed_offsets(connection, "first-group", [partition])) == {
            partition: -1
        }
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
