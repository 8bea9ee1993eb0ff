"""ClickHouse's real Kafka engine (chDB) on the topic names the environment gives, in a process
of its own (one chDB data path per process)::

    python -m tests.support.renamed_topics_embedded DATA_DIR

Opens the store the way ``make local`` does (``embedded.local``: the named collections filled
from ``topic_variables(Settings(), AlertSettings())``, i.e. the ``COINS_TOPIC_*`` and
``COINS_ALERTS_TOPIC_*`` variables), then produces to the topic each Kafka table reads: one
malformed record, plus the contract's example message to every topic but the live one (the test
ran the real ``coins stream`` on it). It waits until every table's consumer group committed the
end of its topics (the engine commits after its views ran) and prints, as one JSON object, what
ClickHouse itself says it read: each table's topics, the topic ClickHouse recorded for each
rejected record (``_topic`` in ``crypto.ingest_errors``) and the rows stored behind each table.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from alerts.settings import AlertSettings
from embedded.clickhouse import open_embedded
from producers.kafka.connection import KafkaConnection
from producers.kafka.topics import topic_variables
from producers.settings import Settings
from provisioning.contracts import example
from tests.support.kafka_feeder import produce

MALFORMED = '{"renamed": '
# Kafka table -> (contract file, the table its materialized view stores into)
STORED_BEHIND = {
    "crypto.kafka_coins_current_full": ("coins_current_full", "crypto.coins_ticks"),
    "crypto.kafka_coins_historical": ("coins_historical", "crypto.coins_history"),
    "crypto.kafka_coins_ohlc_minute": ("coins_ohlc_minute", "crypto.ksql_ohlc_minute"),
    "crypto.kafka_coins_moving_average_60s": (
        "coins_moving_average_60s",
        "crypto.ksql_moving_average_60s",
    ),
    "crypto.kafka_portfolio_transactions": (
        "portfolio_transactions",
        "crypto.portfolio_transactions",
    ),
    "crypto.kafka_coins_alerts": ("coins_alerts", "crypto.alerts"),
    "crypto.kafka_coins_alerts_deliveries": ("coins_alerts_deliveries", "crypto.alert_deliveries"),
}


def main(data_dir: Path) -> int:
    settings = Settings()
    connection = KafkaConnection.from_settings(settings)
    topics = topic_variables(settings, AlertSettings())
    engine = open_embedded(data_dir, connection, topics=topics, group_prefix="renamed")
    try:
        for name, table in engine.kafka_tables.items():
            contract, _ = STORED_BEHIND[name]
            values = [MALFORMED]
            if table.topics[0] != settings.topic_current:
                values.append(json.dumps(example(contract)))
            # keyed: a compacted topic (the portfolio's) refuses records without a key
            keys = ["renamed"] * len(values)
            asyncio.run(produce(connection, table.topics[0], values, keys))
        for table in engine.kafka_tables.values():
            engine.wait_caught_up(table, timeout_s=180)
        client = engine.client
        errors = client.query(
            "SELECT topic, raw_message FROM crypto.ingest_errors ORDER BY topic"
        ).result_rows
        report = {
            "variables": topics,
            "tables": {
                name: {
                    "topics": list(table.topics),
                    "stored": client.query(
                        f"SELECT count() FROM {STORED_BEHIND[name][1]}"
                    ).result_rows[0][0],
                }
                for name, table in engine.kafka_tables.items()
            },
            "errors": [[topic, raw] for topic, raw in errors],
        }
    finally:
        engine.close()
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
