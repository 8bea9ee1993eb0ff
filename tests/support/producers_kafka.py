"""Helpers for the producers' integration tests: settings and a subprocess environment on the
test's own topics, a whole topic read back, and the daily closes found on it."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from producers.clock import DAY_MS, HOUR_MS, noon_ms
from producers.kafka.connection import KafkaConnection
from producers.kafka.topics import topic_partitions
from producers.settings import Settings

# The producers' topics a test names itself, so no two tests (or runs) share one.
OWN_TOPICS = {
    "topic_current": "current",
    "topic_historical": "historical",
    "topic_dead_letter": "dead",
    "topic_backfill_progress": "progress",
}


def own_topics(unique_name: Callable[[str], str]) -> dict[str, str]:
    """The producers' topic settings, each a fresh name."""
    return {field: unique_name(prefix) for field, prefix in OWN_TOPICS.items()}


def producer_settings(bootstrap: str, unique_name: Callable[[str], str], **values: Any) -> Settings:
    """Settings on ``bootstrap`` and the test's own topics; no ``.env`` is read."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None, kafka_bootstrap_servers=bootstrap, **{**own_topics(unique_name), **values}
    )


def producer_env(
    bootstrap: str, unique_name: Callable[[str], str], **variables: str
) -> dict[str, str]:
    """The environment of a ``coins`` subprocess on ``bootstrap`` and the test's own topics,
    JSON logs, and none of the caller's own ``COINS_`` variables."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefix)}
    env.update(
        {f"{prefix}{field.upper()}": name for field, name in own_topics(unique_name).items()}
    )
    env.update(
        {
            f"{prefix}KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            f"{prefix}KAFKA_LINGER_MS": "5",
            f"{prefix}LOG_FORMAT": "json",
        }
    )
    env.update(variables)
    return env


def daily_closes(values: Iterable[Mapping[str, Any]]) -> Counter[tuple[str, int]]:
    """How often each (coin, 12:00 UTC) close is among the historical messages ``values``."""
    found: Counter[tuple[str, int]] = Counter()
    for value in values:
        stamp = int(value["timestamp_ms"])
        if (stamp - 12 * HOUR_MS) % DAY_MS == 0:
            found[(str(value["code"]), stamp)] += 1
    return found


def every_close(coins: Iterable[str], since: dt.date, until: dt.date) -> set[tuple[str, int]]:
    """Each coin's 12:00 UTC close of every day from ``since`` to ``until``."""
    days = (until - since).days + 1
    return {(c, noon_ms(since + dt.timedelta(days=i))) for c in coins for i in range(days)}


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
