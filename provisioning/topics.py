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
from producers.kafka.topics import TopicSpec, ensure_topics, producer_topics
from producers.settings import Settings
from provisioning.ksqldb_statements import load_statements

LOG = logging.getLogger("coins.topics")


def ksqldb_sink_topics(statements_dir: Path, settings: Settings) -> list[TopicSpec]:
    """The topics the CREATE ... AS SELECT statements write, as ksqlDB would create them.

    Every query of ``ksqldb/`` reads ``coins_current_full`` (the producers' layout), so its sink
    gets ``settings.topic_partitions`` partitions.
    """
    specs: list[TopicSpec] = []
    for statement in load_statements(statements_dir):
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


def all_topics(statements_dir: Path, settings: Settings) -> list[TopicSpec]:
    """Every topic of the stack, once each: producers', alerts', ksqlDB's sinks."""
    specs: dict[str, TopicSpec] = {}
    for spec in (
        *producer_topics(settings),
        *alert_topics(settings, AlertSettings()),
        *ksqldb_sink_topics(statements_dir, settings),
    ):
        specs.setdefault(spec.name, spec)
    return list(specs.values())


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    parser = argparse.ArgumentParser(
        prog="coins-topics", description="Create every topic of the stack (missing ones only)."
    )
    parser.add_argument(
        "--ksqldb-dir", type=Path, default=Path("ksqldb"), help="the ksqlDB statements folder"
    )
    args = parser.parse_args(argv)
    settings = Settings()
    try:
        specs = all_topics(args.ksqldb_dir, settings)
        created = asyncio.run(ensure_topics(KafkaConnection.from_settings(settings), specs))
    except (OSError, ValueError, RuntimeError) as error:
        LOG.error("topics not created: %s", error)
        return 1
    LOG.info(
        "topics ready: %s (created now: %s)",
        ", ".join(spec.name for spec in specs),
        ", ".join(created) or "none",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
