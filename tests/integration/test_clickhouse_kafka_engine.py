"""What only ClickHouse's real Kafka engine can answer: broker -> Kafka table -> views.

Malformed messages among valid ones, the same offsets delivered twice (the consumer group
rewound), the broker going away and coming back while the engine consumes. No emulation: the
records go through the session's broker and the tables read them with their own consumer group.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import TopicPartition

from embedded.clickhouse import end_offsets, kafka_consumers
from producers.clock import epoch_ms
from tests.support.clickhouse_loader import VIEW_SNAPSHOTS, rows, snapshot
from tests.support.kafka_feeder import KafkaFeeder, produce
from tests.support.tick_data import Tick, as_json, current_full_message, feed_every_view

LIVE_TOPIC = "coins_current_full"
# After a broker restart a Kafka table's consumer may have to rejoin its group (ClickHouse marks
# it dirty after a failed commit and subscribes again: KafkaConsumer::markDirty in
# src/Storages/Kafka/KafkaConsumer.cpp). In the classic group protocol the coordinator holds that
# JoinGroup until every known member rejoined or the rebalance timeout passed, and librdkafka
# sends max.poll.interval.ms (default 300 000 ms, CONFIGURATION.md) as the rebalance timeout.
# Measured in a fresh-clone CI run: the table had no partition assigned for over 120 s.
REJOIN_AFTER_RESTART_S = 330.0


def test_a_malformed_message_between_two_valid_ones(clickhouse: Any, kafka_feeder: Any) -> None:
    now_ms = epoch_ms(datetime.now(tz=UTC))
    first = json.dumps(current_full_message(Tick("BTC", now_ms - 2_000, 97_000.5)))
    second = json.dumps(current_full_message(Tick("BTC", now_ms - 1_000, 97_001.5)))
    malformed = '{"code": "BTC", "timestamp_ms": 17, "rate": }'

    delivered = kafka_feeder.insert_values(
        "kafka_coins_current_full", [first, malformed, second], keys=["BTC"] * 3
    )

    stored = rows(
        clickhouse,
        "SELECT rate, kafka_partition, kafka_offset FROM crypto.coins_ticks ORDER BY kafka_offset",
    )
    assert [(r["rate"], r["kafka_partition"], r["kafka_offset"]) for r in stored] == [
        (97_000.5, delivered[0].partition, delivered[0].offset),
        (97_001.5, delivered[2].partition, delivered[2].offset),
    ]
    errors = rows(clickhouse, "SELECT * FROM crypto.ingest_errors")
    assert len(errors) == 1, (errors, kafka_consumers(clickhouse))
    error = errors[0]
    assert (error["topic"], error["kafka_partition"], error["kafka_offset"]) == tuple(delivered[1])
    assert error["raw_message"] == malformed
    assert error["kafka_key"] == "BTC"
    # a framed object that is no JSON (the views read the text with JSONExtract: init/198)
    assert error["error"] == "unparsable: not valid JSON"


def test_the_same_offsets_delivered_twice_change_no_result(
    clickhouse: Any, kafka_feeder: KafkaFeeder
) -> None:
    tables = [
        "kafka_coins_current_full",
        "kafka_coins_historical",
        "kafka_coins_ohlc_minute",
        "kafka_coins_moving_average_60s",
    ]
    start: dict[TopicPartition, int] = {}
    for name in tables:
        for topic in kafka_feeder.table(name).topics:
            start.update(asyncio.run(end_offsets(kafka_feeder.connection, topic)))
    # ends now: tick_change and coin_overview window on the query's now()
    now = datetime.now(tz=UTC)
    feed_every_view(kafka_feeder, now)
    tick_change_since = now - timedelta(hours=23)
    before = snapshot(clickhouse, tick_change_since)
    assert [v for v in VIEW_SNAPSHOTS if not before[v]] == []
    rewound_at = clickhouse.query("SELECT now64(3, 'UTC')").result_rows[0][0]

    # at-least-once: the engine reads every one of those offsets again
    kafka_feeder.redeliver(tables, start)

    # the version column is the ingestion time: after the second delivery every kept row is new
    for table in ("coins_ticks", "coins_history"):
        (oldest,) = clickhouse.query(f"SELECT min(ingested_at) FROM crypto.{table} FINAL").first_row
        assert oldest >= rewound_at, f"{table}: offsets not read a second time"
    assert snapshot(clickhouse, tick_change_since) == before
    # the bad message was read twice, at the same offset: one error
    assert clickhouse.command("SELECT count() FROM crypto.ingest_errors FINAL") == 1


def test_the_broker_restarting_while_clickhouse_consumes_loses_nothing(
    clickhouse: Any, kafka_feeder: KafkaFeeder, running_kafka_broker: Any
) -> None:
    start_ms = epoch_ms(datetime.now(tz=UTC)) - 3_600_000
    before_outage = as_json(
        current_full_message(Tick("ADA", start_ms + i * 1_000, 0.5 + i / 1e4)) for i in range(3_000)
    )
    after_outage = as_json(
        current_full_message(Tick("ADA", start_ms + i * 1_000, 0.5 + i / 1e4))
        for i in range(3_000, 3_200)
    )

    acknowledged = asyncio.run(produce(kafka_feeder.connection, LIVE_TOPIC, before_outage))
    running_kafka_broker.stop()
    running_kafka_broker.start()
    asyncio.run(produce(kafka_feeder.connection, LIVE_TOPIC, after_outage))
    kafka_feeder.drain(LIVE_TOPIC, timeout=REJOIN_AFTER_RESTART_S)

    assert len(acknowledged) == len(before_outage)
    stored = rows(
        clickhouse,
        "SELECT count() AS ticks, min(rate) AS low, max(rate) AS high "
        "FROM crypto.coins_ticks FINAL WHERE code = 'ADA'",
    )
    assert stored == [{"ticks": 3_200, "low": 0.5, "high": 0.5 + 3_199 / 1e4}]
