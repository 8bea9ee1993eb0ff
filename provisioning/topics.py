"""``coins-topics``: create every topic of the stack up front, before any consumer starts.

The producers' topics (``producers.kafka.topics.producer_topics``), the alert service's
(``alerts.topics.alert_topics``) and the sink topics of the ksqlDB queries of ``ksqldb/``, the
latter laid out exactly as ksqlDB validates them when its query starts on an existing topic: the
source topic's partitions and, for a windowed table, ``compact,delete`` with
``retention.ms`` = the window RETENTION (``TopicCreateInjector`` / ``TopicValidationUtil`` in
confluentinc/ksql). With every topic present, ClickHouse's Kafka tables can start right after
Kafka instead of waiting for ksqlDB, and a ksqlDB that never starts leaves only its own
topics empty.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from alerts.settings import AlertSettings
from alerts.topics import alert_topics
from producers.kafka.connection import KafkaConnection
from producers.kafka.topics import TopicSpec, ensure_topics, producer_topics, topic_variables
from producers.logs import console_script, hide_secrets
from producers.reachability import UnreachableError, reaching_kafka
from producers.settings import Settings
from provisioning.ksqldb_statements import load_statements

log = logging.getLogger(__name__)


def ksqldb_sink_topics(statements_dir: Path, settings: Settings) -> list[TopicSpec]:
    """The topics the CREATE ... AS SELECT statements write, as ksqlDB would create them.

    Every query of ``ksqldb/`` reads the live ticks (the producers' layout), so its sink gets
    ``settings.topic_partitions`` partitions. The names are the statements' ``KAFKA_TOPIC`` with
    the topic settings substituted, as ksqlDB will.
    """
    specs: list[TopicSpec] = []
    for statement in load_statements(statements_dir, topic_variables(settings)):
        topic = statement.sink_topic
        if topic is None:
            continue
        specs.append(
            TopicSpec(
                name=topic,
                partitions=settings.topic_partitions,
                replication_factor=settings.topic_replication_factor,
                config=statement.sink_topic_config,
            )
        )
    return specs


def all_topics(
    statements_dir: Path, settings: Settings, alert_settings: AlertSettings | None = None
) -> list[TopicSpec]:
    """Every topic of the stack, once each: producers', alerts' (``alert_settings``, by default
    from the environment), ksqlDB's sinks."""
    specs: dict[str, TopicSpec] = {}
    for spec in (
        *producer_topics(settings),
        *alert_topics(settings, alert_settings or AlertSettings()),
        *ksqldb_sink_topics(statements_dir, settings),
    ):
        specs.setdefault(spec.name, spec)
    return list(specs.values())


@console_script
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="coins-topics", description="Create every topic of the stack (missing ones only)."
    )
    parser.add_argument(
        "--ksqldb-dir", type=Path, default=Path("ksqldb"), help="the ksqlDB statements folder"
    )
    args = parser.parse_args(argv)
    settings = Settings()
    hide_secrets(settings)
    try:
        specs = all_topics(args.ksqldb_dir, settings)
        connection = KafkaConnection.from_settings(settings)
        created = reaching_kafka(settings, lambda: asyncio.run(ensure_topics(connection, specs)))
    except UnreachableError as error:
        log.error("%s", error)
        return 1
    except (OSError, ValueError, RuntimeError) as error:
        log.error("topics not created: %s", error)
        return 1
    log.info(
        "topics ready: %s (created now: %s)",
        ", ".join(spec.name for spec in specs),
        ", ".join(created) or "none",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
