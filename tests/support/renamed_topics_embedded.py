"""ClickHouse's real Kafka engine (chDB) on the topic names the environment gives, in a process
of its own (one chDB data path per process)::

    python -m tests.support.renamed_topics_embedded DATA_DIR

Opens the store the way ``make local`` does (``embedded.local``: the named collections filled
from ``topic_variables(Settings(), AlertSettings())``, i.e. the ``COINS_TOPIC_*`` and
``COINS_ALERTS_TOPIC_*`` variables), then produces the contract's example message to the topic
of every Kafka table but the live one (the test ran the real ``coins stream`` on it). It waits
until every table's consumer group committed the end of its topic (the engine commits after its
views ran) and prints, as one JSON object, what ClickHouse itself says: each table's topics, the
offsets its group committed on them (read from the broker), the topics its consumers are
assigned (``system.kafka_consumers``) and the rows stored behind it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from alerts.settings import AlertSettings
from embedded.clickhouse import committed_offsets, end_offsets, open_embedded
from producers.kafka.connection import KafkaConnection
from producers.kafka.topics import topic_variables
from producers.settings import Settings
from provisioning.contracts import example
from tests.support.clickhouse_loader import wait_every_table_assigned
from tests.support.kafka_feeder import produce
from tests.support.kafka_tables import KAFKA_TABLES


def main(data_dir: Path) -> int:
    settings = Settings()
    connection = KafkaConnection.from_settings(settings)
    topics = topic_variables(settings, AlertSettings())
    engine = open_embedded(data_dir, connection, topics=topics, group_prefix="renamed")
    try:
        for name, table in engine.kafka_tables.items():
            if table.topics[0] != settings.topic_current:
                message = json.dumps(example(KAFKA_TABLES[name].contract))
                # keyed: a compacted topic (the portfolio's) refuses records without a key
                asyncio.run(produce(connection, table.topics[0], [message], ["k"]))
        progress = {}
        for name, table in engine.kafka_tables.items():
            (topic,) = table.topics
            ends = asyncio.run(end_offsets(connection, topic))
            engine.wait_consumed(table, ends, timeout_s=180)
            committed = asyncio.run(committed_offsets(connection, table.group, ends))
            progress[name] = {
                "messages": sum(ends.values()),
                # -1 = nothing committed, which is right only on an empty partition
                "behind": sum(end - max(committed[tp], 0) for tp, end in ends.items()),
            }
        client = engine.client
        assigned = wait_every_table_assigned(client, engine.kafka_tables)
        report = {
            "variables": topics,
            "tables": {
                name: {
                    "topics": list(table.topics),
                    "group": table.group,
                    "assigned": assigned[name],
                    **progress[name],
                    "stored": client.query(
                        f"SELECT count() FROM {KAFKA_TABLES[name].stored}"
                    ).result_rows[0][0],
                }
                for name, table in engine.kafka_tables.items()
            },
        }
    finally:
        engine.close()
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
