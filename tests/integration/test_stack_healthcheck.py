"""The producer's container healthcheck against the real broker: fresh records or unhealthy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from producers.healthcheck import main, newest_record_is_recent
from producers.kafka.connection import KafkaConnection


async def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, timestamp_ms: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}", key=b"BTC", timestamp_ms=timestamp_ms)
    finally:
        await producer.stop()


def test_fresh_only_after_a_recent_record(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("health")
    connection = KafkaConnection(bootstrap_servers=kafka_bootstrap)
    now_ms = int(time.time() * 1000)

    def fresh() -> bool:
        return asyncio.run(newest_record_is_recent(connection, topic, 60_000, now_ms))

    assert not fresh(), "a topic that does not exist is not healthy"
    asyncio.run(_create_topic(kafka_bootstrap, topic))
    assert not fresh(), "an empty topic is not healthy"
    asyncio.run(_produce(kafka_bootstrap, topic, now_ms - 600_000))
    assert not fresh(), "a ten-minute-old record is stale"
    asyncio.run(_produce(kafka_bootstrap, topic, now_ms - 5_000))
    assert fresh()


def test_main_exit_status_follows_freshness(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    topic = unique_name("health-main")
    monkeypatch.setenv("COINS_KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("COINS_TOPIC_CURRENT", topic)  # the stream's own setting
    monkeypatch.setenv("HEALTHCHECK_MAX_AGE_SECONDS", "60")

    assert main([]) == 1
    assert f"no record on {topic}" in capsys.readouterr().err

    asyncio.run(_create_topic(kafka_bootstrap, topic))
    asyncio.run(_produce(kafka_bootstrap, topic, int(time.time() * 1000)))
    assert main([]) == 0
    assert "healthy" in capsys.readouterr().out
