"""Create the producers' topics when they are missing, with the configured layout."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic_settings import BaseSettings

from producers.kafka.connection import KafkaConnection, kafka_error_name
from producers.settings import TOPIC_FIELD_PREFIX, Settings

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error codes
UNKNOWN_TOPIC = 3
PORTFOLIO_MARKER_KEPT_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


def topic_setting_names(model: type[BaseSettings]) -> dict[str, str]:
    """Variable -> field of every topic-name setting of ``model`` (a ``topic_*`` string field):
    ``{"COINS_TOPIC_CURRENT": "topic_current", ...}``, as pydantic-settings reads them."""
    prefix = str(model.model_config.get("env_prefix") or "")
    return {
        f"{prefix}{name}".upper(): name
        for name, field in model.model_fields.items()
        if name.startswith(TOPIC_FIELD_PREFIX) and field.annotation is str
    }


def topic_variables(*models: BaseSettings) -> dict[str, str]:
    """Every topic name of ``models`` by the variable that sets it, e.g.
    ``{"COINS_TOPIC_CURRENT": "coins_current_full", ...}``.

    The same variables name the topics everywhere else: ClickHouse's named collections
    (``from_env`` in clickhouse/config.d), the ksqlDB statements (``${COINS_TOPIC_CURRENT}``,
    sent as session variables) and compose.yaml (``x-topic-environment``).
    """
    return {
        variable: str(getattr(model, name))
        for model in models
        for variable, name in topic_setting_names(type(model)).items()
    }


def topic_defaults(*models: type[BaseSettings]) -> dict[str, str]:
    """The default topic names of ``models`` by variable, whatever the environment says."""
    return {
        variable: str(model.model_fields[name].default)
        for model in models
        for variable, name in topic_setting_names(model).items()
    }


def producer_topics(settings: Settings) -> list[TopicSpec]:
    def spec(name: str, retention_ms: int, **extra: str) -> TopicSpec:
        return TopicSpec(
            name=name,
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
            config={"retention.ms": str(retention_ms), **extra},
        )

    return [
        spec(settings.topic_current, settings.current_retention_ms),
        spec(settings.topic_historical, settings.historical_retention_ms),
        spec(settings.topic_dead_letter, settings.dead_letter_retention_ms),
        # One record per coin matters; compaction keeps the latest forever.
        TopicSpec(
            name=settings.topic_backfill_progress,
            partitions=1,
            replication_factor=settings.topic_replication_factor,
            config={"cleanup.policy": "compact"},
        ),
        # One record per transaction (key portfolio/id). A deletion is a marker then a
        # tombstone; compaction may drop the marker only after a week, so a consumer that is
        # less than a week behind always sees it (see docs/portfolio.md).
        TopicSpec(
            name=settings.topic_portfolio,
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
            config={
                "cleanup.policy": "compact",
                "min.compaction.lag.ms": str(PORTFOLIO_MARKER_KEPT_MS),
                "delete.retention.ms": str(PORTFOLIO_MARKER_KEPT_MS),
            },
        ),
    ]


async def ensure_topics(connection: KafkaConnection, specs: Sequence[TopicSpec]) -> list[str]:
    """Create every missing topic; return the names created. Existing topics are left as is."""
    admin = AIOKafkaAdminClient(**connection.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [
                NewTopic(
                    name=spec.name,
                    num_partitions=spec.partitions,
                    replication_factor=spec.replication_factor,
                    topic_configs=spec.config,
                )
                for spec in missing
            ]
        )
        created = []
        for topic_error in response.topic_errors:
            name, code = topic_error[0], topic_error[1]
            if code == 0:
                created.append(name)
            elif code != TOPIC_ALREADY_EXISTS:  # lost a race with another producer: fine
                message = topic_error[2] if len(topic_error) > 2 else ""
                raise RuntimeError(
                    f"cannot create topic {name}: {kafka_error_name(code)} {message}".rstrip()
                )
        if created:
            log.info("created topics %s", ", ".join(created))
        return created
    finally:
        await admin.close()


async def topic_partitions(connection: KafkaConnection, topic: str) -> list[int]:
    """The partition ids of ``topic``; empty when it does not exist, which it never creates.

    The topic is looked up in the topic list first: describing a missing topic by name asks a
    broker that has ``auto.create.topics.enable`` to create it (aiokafka's admin sends Metadata
    v4+ with ``allow_auto_topic_creation`` true, aiokafka/protocol/metadata.py). Another error
    raises the protocol's own class for its code (retriable for e.g. LEADER_NOT_AVAILABLE).
    """
    admin = AIOKafkaAdminClient(**connection.client_options())
    await admin.start()
    try:
        if topic not in set(await admin.list_topics()):
            return []
        (description,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    code = description.get("error_code", 0)
    if code == UNKNOWN_TOPIC:  # deleted between the two requests
        return []
    if code:
        raise RuntimeError(f"cannot describe topic {topic}: {kafka_error_name(code)}")
    return sorted(int(p["partition"]) for p in description.get("partitions", []))
