"""Container healthcheck of the stream: healthy while its topic received a record recently.

``coins-healthcheck`` asks the broker for the first offset at or after ``now - max age`` in
every partition of the live topic (``COINS_TOPIC_CURRENT``, the stream's own setting;
``offsets_for_times``): any answer means a record that
recent exists. It checks what matters (ticks reach Kafka) rather than whether a process is alive,
and uses the producers' Kafka settings (``COINS_KAFKA_*``), so it works on a managed cluster too.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from producers.env_settings import KafkaConnectionSettings
from producers.kafka.connection import KafkaConnection
from producers.kafka.topics import topic_partitions
from producers.logs import console_script, hide_secrets
from producers.reachability import UnreachableError, kafka_unreachable, require_kafka
from producers.settings import Settings


class HealthcheckSettings(KafkaConnectionSettings):
    """``HEALTHCHECK_*``, and the producers' Kafka connection (``COINS_KAFKA_*``)."""

    model_config = SettingsConfigDict(env_prefix="HEALTHCHECK_")

    max_age_seconds: float = Field(
        default=180.0, gt=0, description="newest record at most this old"
    )
    timeout_seconds: float = Field(default=15.0, gt=0, description="deadline of the check")


async def newest_record_is_recent(
    connection: KafkaConnection, topic: str, max_age_ms: int, now_ms: int
) -> bool:
    """True when some partition of ``topic`` holds a record stamped at or after now - max age."""
    partitions = await topic_partitions(connection, topic)
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


@console_script
def main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="coins-healthcheck",
        description="Exit 0 when the producers' topic received a record recently (a compose "
        "healthcheck).",
    ).parse_args(argv)
    settings = HealthcheckSettings()
    hide_secrets(settings)
    try:
        require_kafka(settings, settings.timeout_seconds)
    except UnreachableError as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1
    topic = Settings().topic_current
    connection = KafkaConnection.from_settings(settings)
    check = newest_record_is_recent(
        connection,
        topic,
        max_age_ms=int(settings.max_age_seconds * 1000),
        now_ms=int(time.time() * 1000),
    )
    try:
        healthy = asyncio.run(asyncio.wait_for(check, settings.timeout_seconds))
    except KafkaConnectionError as error:
        print(f"unhealthy: {kafka_unreachable(settings, error)}", file=sys.stderr)
        return 1
    except Exception as error:  # any failure to ask is an unhealthy answer, with its reason
        print(f"unhealthy: cannot check {topic}: {error!r}", file=sys.stderr)
        return 1
    if not healthy:
        print(
            f"unhealthy: no record on {topic} in the last {settings.max_age_seconds:g} s",
            file=sys.stderr,
        )
        return 1
    print(f"healthy: {topic} received a record in the last {settings.max_age_seconds:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
