"""The alert service's topics, created with the producers' ``ensure_topics``."""

from __future__ import annotations

from alerts.settings import AlertSettings
from producers.kafka.topics import TopicSpec, producer_topics
from producers.settings import Settings

DAY_MS = 86_400_000


def alert_topics(settings: Settings, alert_settings: AlertSettings) -> list[TopicSpec]:
    """Every topic the service reads or writes: the producers' ones (ticks, dead letters) and
    its own. The state topic is compacted, one partition so a checkpoint is written in order,
    and keeps superseded records a day (a crash mid-checkpoint falls back on them)."""
    replication = settings.topic_replication_factor
    return [
        *producer_topics(settings),
        TopicSpec(
            name=alert_settings.topic_alerts,
            partitions=alert_settings.alerts_partitions,
            replication_factor=replication,
            config={"retention.ms": str(alert_settings.alerts_retention_ms)},
        ),
        TopicSpec(
            name=alert_settings.topic_deliveries,
            partitions=1,
            replication_factor=replication,
            config={"retention.ms": str(alert_settings.deliveries_retention_ms)},
        ),
        TopicSpec(
            name=alert_settings.topic_state,
            partitions=1,
            replication_factor=replication,
            config={"cleanup.policy": "compact", "min.compaction.lag.ms": str(DAY_MS)},
        ),
    ]
