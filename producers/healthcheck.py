"""Container healthcheck of the stream: healthy while its topic received a record recently.

``coins-healthcheck`` asks the broker for the first offset at or after ``now - max age`` in
every partition of ``HEALTHCHECK_TOPIC`` (``offsets_for_times``): any answer means a record that
recent exists. It checks what matters (ticks reach Kafka) rather than whether a process is alive,
and uses the producers' Kafka settings (``COINS_KAFKA_*``), so it works on a managed cluster too.
"""

from __future__ import annotations

import asyncio
import sys
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from producers.kafka.connection import KafkaConnection
from producers.settings import Settings


class HealthcheckSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEALTHCHECK_", extra="ignore")

    topic: str = Field(default="coins_current_full", description="topic that must stay fresh")
    max_age_seconds: float = Field(
        default=180.0, gt=0, description="newest record at most this old"
    )
    timeout_seconds: float = Field(default=15.0, gt=0, description="deadline of the check")


async def newest_record_is_recent(
    connection: KafkaConnection, topic: str, max_age_ms: int, now_ms: int
) -> bool:
    """True when some partition of ``topic`` holds a record stamped at or after now - max age."""
    partitions = await _partitions(connection, topic)
    if not partitions:
        return False
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **connection.client_options())
    await consumer.start()
    try:
        since = now_ms - max_age_ms
        found = await consumer.offsets_for_times(
            {TopicPartition(topic, partition): since for partition in partitions}
        )
        return any(offset is not None for offset in found.values())
    finally:
        await consumer.stop()


async def _partitions(connection: KafkaConnection, topic: str) -> list[int]:
    """Partition ids of ``topic``; none when it does not exist (it is never created here)."""
    admin = AIOKafkaAdminClient(**connection.client_options())
    await admin.start()
    try:
        if topic not in set(await admin.list_topics()):
            return []
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [
        int(partition["partition"])
        for entry in described
        if entry.get("topic") == topic
        for partition in entry.get("partitions", [])
    ]


def main() -> int:
    settings = HealthcheckSettings()
    connection = KafkaConnection.from_settings(Settings())
    check = newest_record_is_recent(
        connection,
        settings.topic,
        max_age_ms=int(settings.max_age_seconds * 1000),
        now_ms=int(time.time() * 1000),
    )
    try:
        healthy = asyncio.run(asyncio.wait_for(check, settings.timeout_seconds))
    except Exception as error:  # any failure to ask is an unhealthy answer, with its reason
        print(f"unhealthy: cannot check {settings.topic}: {error!r}", file=sys.stderr)
        return 1
    if not healthy:
        print(
            f"unhealthy: no record on {settings.topic} in the last {settings.max_age_seconds:g} s",
            file=sys.stderr,
        )
        return 1
    print(f"healthy: {settings.topic} received a record in the last {settings.max_age_seconds:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
