"""End to end on real parts: aiokafka -> Kafka broker -> Kafka table -> ClickHouse storage.

10,000 JSON messages, some sent twice and some malformed, go through the broker into a
Kafka-engine table (ClickHouse's real Kafka engine, in chDB or a container); every valid message
must be stored exactly once after deduplication and every malformed one must sit in the errors
table with its raw text.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from embedded.clickhouse import apply_sql, create_topics, kafka_table, split_statements
from producers.kafka.connection import KafkaConnection

TOTAL_MESSAGES = 10_000
DUPLICATES = 400
MALFORMED = 100
PARTITIONS = 3
BASE_TIME_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z

SMOKE_SCHEMA = """
CREATE DATABASE IF NOT EXISTS {db};

-- Reads the smoke topic; malformed values become rows with _error set instead of stopping.
CREATE TABLE IF NOT EXISTS {db}.events_queue (
    event_id String,
    value Float64,
    ts_ms Int64
)
ENGINE = Kafka
SETTINGS kafka_broker_list = '{broker}', kafka_topic_list = '{topic}',
         kafka_group_name = '{group}', kafka_format = 'JSONEachRow',
         kafka_handle_error_mode = 'stream', kafka_flush_interval_ms = 500;

CREATE TABLE IF NOT EXISTS {db}.events (
    event_id String,
    value Float64,
    ts DateTime64(3, 'UTC'),
    kafka_offset UInt64
)
ENGINE = ReplacingMergeTree(kafka_offset)
ORDER BY event_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.events_mv TO {db}.events AS
SELECT event_id, value, fromUnixTimestamp64Milli(ts_ms) AS ts, _offset AS kafka_offset
FROM {db}.events_queue
WHERE length(_error) = 0;

CREATE TABLE IF NOT EXISTS {db}.errors (
    topic String,
    kafka_partition UInt64,
    kafka_offset UInt64,
    error String,
    raw String
)
ENGINE = MergeTree
ORDER BY (kafka_partition, kafka_offset);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.errors_mv TO {db}.errors AS
SELECT _topic AS topic, _partition AS kafka_partition, _offset AS kafka_offset,
       _error AS error, _raw_message AS raw
FROM {db}.events_queue
WHERE length(_error) > 0;
"""

MALFORMED_SHAPES = (
    "not json at all #{n}",
    '{{"event_id": "bad-{n}", "value": 1.5, "ts_ms": 1735689600000',  # truncated
    '{{"event_id": "bad-{n}", "value": "abc", "ts_ms": 1735689600000}}',  # text for a number
    '{{"event_id": "bad-{n}", "value": 2.5, "ts_ms": "yesterday"}}',  # text for an epoch
    "[1, 2, {n}]",
)


def _messages() -> tuple[list[tuple[str, str]], dict[str, dict[str, Any]], list[str]]:
    """(key, value) pairs in send order, the valid events by id, the malformed raw texts."""
    rng = random.Random(20260101)
    valid_count = TOTAL_MESSAGES - DUPLICATES - MALFORMED
    events = {
        f"evt-{index:05d}": {
            "event_id": f"evt-{index:05d}",
            "value": round(rng.uniform(-1000, 1000), 6),
            "ts_ms": BASE_TIME_MS + index * 1_001,
        }
        for index in range(valid_count)
    }
    sent = [(event_id, json.dumps(event)) for event_id, event in events.items()]
    sent += [
        (event_id, json.dumps(events[event_id]))
        for event_id in rng.sample(list(events), DUPLICATES)
    ]
    malformed = [MALFORMED_SHAPES[n % len(MALFORMED_SHAPES)].format(n=n) for n in range(MALFORMED)]
    sent += [(f"bad-{n}", text) for n, text in enumerate(malformed)]
    rng.shuffle(sent)
    assert len(sent) == TOTAL_MESSAGES
    return sent, events, malformed


async def _produce(bootstrap: str, topic: str, messages: list[tuple[str, str]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value.encode(), key=key.encode()) for key, value in messages
        ]
        await producer.flush()
        for future in futures:
            await future  # every message acknowledged by the broker
    finally:
        await producer.stop()


@pytest.fixture
def smoke_database(
    clickhouse: Any, kafka_bootstrap: str, clickhouse_kafka_bootstrap: str, unique_name: Any
) -> Any:
    database = f"smoke_{uuid.uuid4().hex[:10]}"
    topic = unique_name("smoke")
    sql = SMOKE_SCHEMA.format(
        db=database, broker=clickhouse_kafka_bootstrap, topic=topic, group=unique_name("ch")
    )
    # The topic before the Kafka table: the engine notices a later topic only at its next
    # metadata refresh (minutes).
    asyncio.run(create_topics(KafkaConnection(kafka_bootstrap), [topic], partitions=PARTITIONS))
    apply_sql(clickhouse, sql, source="smoke schema")
    tables = {t.name: t for s in split_statements(sql) if (t := kafka_table(s)) is not None}
    yield database, topic, tables
    clickhouse.command(f"DROP DATABASE IF EXISTS {database} SYNC")


def test_ten_thousand_messages_stored_once_and_malformed_ones_kept(
    clickhouse: Any, kafka_feeder: Any, kafka_bootstrap: str, smoke_database: Any
) -> None:
    database, topic, tables = smoke_database
    kafka_feeder.tables.update(tables)
    messages, events, malformed = _messages()

    asyncio.run(_produce(kafka_bootstrap, topic, messages))
    consumed = kafka_feeder.drain(topic, table=f"{database}.events_queue", timeout=300)

    assert consumed == TOTAL_MESSAGES
    stored = clickhouse.query(
        f"SELECT event_id, value, toUnixTimestamp64Milli(ts) FROM {database}.events FINAL"
    ).result_rows
    assert len(stored) == len(events) == TOTAL_MESSAGES - DUPLICATES - MALFORMED
    assert {event_id: (value, ts) for event_id, value, ts in stored} == {
        event_id: (event["value"], event["ts_ms"]) for event_id, event in events.items()
    }
    errors = clickhouse.query(
        f"SELECT topic, raw, error FROM {database}.errors ORDER BY kafka_partition, kafka_offset"
    ).result_rows
    assert len(errors) == MALFORMED
    assert sorted(raw for _, raw, _ in errors) == sorted(malformed)
    assert {row_topic for row_topic, _, _ in errors} == {topic}
    assert all(error for _, _, error in errors), "every error row says why it was rejected"


def test_a_second_drain_reads_only_new_messages(
    clickhouse: Any, kafka_feeder: Any, kafka_bootstrap: str, smoke_database: Any
) -> None:
    database, topic, tables = smoke_database
    kafka_feeder.tables.update(tables)
    first = [
        (f"k{i}", json.dumps({"event_id": f"a{i}", "value": i, "ts_ms": BASE_TIME_MS}))
        for i in range(5)
    ]
    second = [
        (f"k{i}", json.dumps({"event_id": f"b{i}", "value": i, "ts_ms": BASE_TIME_MS}))
        for i in range(3)
    ]

    count = f"SELECT count() FROM {database}.events"
    asyncio.run(_produce(kafka_bootstrap, topic, first))
    assert kafka_feeder.drain(topic, table=f"{database}.events_queue") == 5
    assert clickhouse.query(count).result_rows == [(5,)]
    asyncio.run(_produce_more(kafka_bootstrap, topic, second))
    assert kafka_feeder.drain(topic, table=f"{database}.events_queue") == 8
    assert clickhouse.query(count).result_rows == [(8,)]


async def _produce_more(bootstrap: str, topic: str, messages: list[tuple[str, str]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(topic, value.encode(), key=key.encode())
    finally:
        await producer.stop()
