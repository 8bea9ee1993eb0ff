"""Run ``coins-verify``'s Kafka and ClickHouse hops against chDB with ClickHouse's real Kafka
engine, in a process of its own (chDB allows one data path per process).

    python -m tests.support.verify_embedded BOOTSTRAP DATA_DIR

1. opens chDB on DATA_DIR with the project's schema (``embedded.clickhouse``), its Kafka tables
   reading BOOTSTRAP, and waits until they consumed what the producers published;
2. runs the two hops and prints the report: ksqlDB is not running, so only the ksqlDB rows fail;
3. publishes what ksqlDB's two tables would emit for those ticks (``tests.support.
   ksqldb_emulator``), waits for the Kafka tables, and runs the hops again.

Each report ends with a line ``exit=<status>`` so the test can tell them apart.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from alerts.settings import AlertSettings
from embedded.clickhouse import open_embedded
from producers.kafka.connection import KafkaConnection
from producers.kafka.reader import read_topic
from producers.kafka.topics import topic_variables
from producers.settings import Settings
from provisioning.ksqldb import KsqlApplierSettings
from provisioning.verify import VerifySettings, failed, render, run_hops
from tests.support.clickhouse_loader import wait_every_table_assigned
from tests.support.kafka_feeder import produce
from tests.support.ksqldb_emulator import moving_average_60s, ohlc_by_minute
from tests.support.tick_data import Tick
from tests.support.waiting import eventually

REPO_ROOT = Path(__file__).resolve().parents[2]


async def _read_ticks(connection: KafkaConnection, topic: str) -> list[Tick]:
    values = [json.loads(value or b"") for _key, value in await read_topic(connection, topic)]
    return [Tick(value["code"], value["timestamp_ms"], value["rate"]) for value in values]


async def _publish_ksqldb_output(
    connection: KafkaConnection, settings: Settings, ticks: list[Tick]
) -> None:
    for topic, updates in (
        (settings.topic_ohlc_minute, ohlc_by_minute(ticks)),
        (settings.topic_moving_average_60s, moving_average_60s(ticks)),
    ):
        await produce(connection, topic, [u.json for u in updates], [u.key for u in updates])


def _report(engine_client: object, settings: Settings, verify: VerifySettings) -> None:
    checks = run_hops(
        ["kafka", "clickhouse"],
        verify=verify,
        producer_settings=settings,
        ksql_settings=KsqlApplierSettings(statements_dir=REPO_ROOT / "ksqldb"),
        clickhouse_client=lambda: engine_client,
    )
    print(render(checks))
    print(f"exit={1 if failed(checks) else 0}", flush=True)


def _wait_until_none(client: Any, query: str, what: str, deadline_s: float = 120.0) -> None:
    """Until ``query`` returns no row (each row names something still waiting)."""

    eventually(
        lambda: client.query(query).result_rows,
        until=lambda waiting: not waiting,
        within=deadline_s,
        what=what,
        interval=0.5,
    )


def _wait_for_first_refreshes(client: Any) -> None:
    """Until every snapshot view refreshed once (a stack a minute after start; on a loaded
    machine the first refreshes can still be running when the tables caught up)."""
    _wait_until_none(
        client,
        "SELECT view, status FROM system.view_refreshes "
        "WHERE database = 'crypto' AND last_success_time IS NULL",
        "snapshot views never refreshed",
    )


def main(bootstrap: str, data_dir: Path) -> int:
    settings = Settings(kafka_bootstrap_servers=bootstrap)
    connection = KafkaConnection.from_settings(settings)
    verify = VerifySettings()
    topics = topic_variables(settings, AlertSettings())
    engine = open_embedded(data_dir, connection, topics=topics, group_prefix="verify")
    try:
        for table in engine.kafka_tables.values():
            engine.wait_caught_up(table, timeout_s=120)
        wait_every_table_assigned(engine.client, engine.kafka_tables)
        _wait_for_first_refreshes(engine.client)
        _report(engine.client, settings, verify)
        ticks = asyncio.run(_read_ticks(connection, settings.topic_current))
        asyncio.run(_publish_ksqldb_output(connection, settings, ticks))
        for table in engine.kafka_tables.values():
            engine.wait_caught_up(table, timeout_s=120)
        _report(engine.client, settings, verify)
    finally:
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
