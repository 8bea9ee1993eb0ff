"""Every topic renamed, for real: the producers, ``coins-topics`` and ClickHouse's Kafka engine
follow the settings, on the session's broker.

The real console scripts run with every ``COINS_TOPIC_*`` / ``COINS_ALERTS_TOPIC_*`` set to a name
no default could produce; then chDB opens the store as ``make local`` does, in a process of its
own (``tests/support/renamed_topics_embedded.py``), and reports what ClickHouse itself read: the
topic of every Kafka table, the topics its consumers are assigned, the offsets its consumer groups
committed on them and the rows it stored. The ksqlDB and compose sides are in
``tests/unit/test_topic_names.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from alerts.settings import AlertSettings
from producers.kafka.topics import topic_defaults
from producers.settings import Settings
from tests.support.commands import run_command
from tests.support.kafka_tables import KAFKA_TABLE_TOPICS

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COINS = ("BTC", "ETH", "SOL")

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.clickhouse]


def _run(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return run_command(args, env=env, cwd=REPO_ROOT, timeout=timeout)


async def _broker_topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def test_renaming_every_topic_moves_the_producers_and_clickhouse(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    run_id = uuid.uuid4().hex[:8]
    renamed = {
        variable: f"renamed.{run_id}.{variable.lower()}"
        for variable in topic_defaults(Settings, AlertSettings)
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("COINS_")}
    env.update(
        renamed,
        COINS_KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        COINS_LCW_API_KEY="",
        COINS_DEMO_INTERVAL_SECONDS="1",
        COINS_COINS=",".join(COINS),
    )

    created = _run([str(BIN / "coins-topics"), "--ksqldb-dir", "ksqldb"], env, 120)
    assert created.returncode == 0, created.stderr
    on_broker = asyncio.run(_broker_topics(kafka_bootstrap))
    # every renamed topic exists, ksqlDB's sinks included; the ledger is ksqlDB's to create
    mine = {name for name in on_broker if name.startswith(f"renamed.{run_id}.")}
    assert mine == set(renamed.values()) - {renamed["COINS_TOPIC_KSQLDB_APPLIED"]}

    stream = _run([str(BIN / "coins"), "stream", "--max-cycles", "1"], env, 180)
    assert stream.returncode == 0, stream.stderr

    engine = _run(
        [sys.executable, "-m", "tests.support.renamed_topics_embedded", str(tmp_path / "ch")],
        env,
        540,
    )
    assert engine.returncode == 0, engine.stdout + engine.stderr
    report = json.loads(engine.stdout.strip().splitlines()[-1])

    assert report["variables"] == renamed
    expected_topics = {table: renamed[variable] for table, variable in KAFKA_TABLE_TOPICS.items()}
    tables = report["tables"]
    assert set(tables) == set(expected_topics)
    for name, topic in expected_topics.items():
        table = tables[name]
        # the named collection gave the renamed topic, the engine's consumers are assigned it
        assert table["topics"] == [topic], name
        assert table["assigned"] == [topic], name
        # ClickHouse's own consumer group committed everything the renamed topic holds
        assert table["behind"] == 0, (name, table)
    # the stream's ticks and each contract example were read from the renamed topics and stored
    assert tables["crypto.kafka_coins_current_full"]["messages"] == len(COINS)
    stored = {name: table["stored"] for name, table in tables.items()}
    assert stored == {
        name: len(COINS) if name == "crypto.kafka_coins_current_full" else 1
        for name in KAFKA_TABLE_TOPICS
    }, stored
