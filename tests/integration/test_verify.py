"""``coins-verify`` for real on its Kafka and ClickHouse hops.

A broker of its own (the topic layout check must see only what this test created), the real
``coins-topics`` and ``coins stream`` (demo source) console scripts, then chDB with
ClickHouse's real Kafka engine in a process of its own (``tests/support/verify_embedded.py``):
without ksqlDB only the ksqlDB-fed rows fail, with ksqlDB's output published every row passes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from embedded.kafka_broker import NativeKafkaBroker
from producers.settings import Settings
from provisioning.topics import all_topics
from tests.support.commands import run_command

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.clickhouse]


@pytest.fixture(scope="module")
def own_broker() -> Iterator[str]:
    workdir = Path(tempfile.mkdtemp(prefix="verify-kafka-"))
    broker = NativeKafkaBroker(workdir)
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _env(bootstrap: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COINS_", "VERIFY_"))}
    env.update(
        COINS_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        COINS_LCW_API_KEY="",
        COINS_DEMO_INTERVAL_SECONDS="1",
        COINS_COINS="BTC,ETH,SOL",
    )
    return env


def _run(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return run_command(args, env=env, cwd=REPO_ROOT, timeout=timeout)


def _rows(report: str) -> dict[str, str]:
    """check name -> status, from the printed table."""
    statuses: dict[str, str] = {}
    for line in report.splitlines():
        parts = [p for p in line.split("  ") if p.strip()]
        if len(parts) >= 3 and parts[0].strip() in {"Kafka", "ClickHouse"}:
            statuses[parts[1].strip()] = parts[2].strip()
    return statuses


def test_verify_proves_kafka_and_clickhouse_and_names_what_ksqldb_leaves_empty(
    own_broker: str, tmp_path: Path
) -> None:
    env = _env(own_broker)
    topics = _run([str(BIN / "coins-topics"), "--ksqldb-dir", "ksqldb"], env, 120)
    assert topics.returncode == 0, topics.stderr
    stream = _run([str(BIN / "coins"), "stream", "--max-cycles", "3"], env, 180)
    assert stream.returncode == 0, stream.stderr

    run = _run(
        [sys.executable, "-m", "tests.support.verify_embedded", own_broker, str(tmp_path / "ch")],
        env,
        540,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    without_ksqldb, with_ksqldb = run.stdout.split("exit=", 1)[0], run.stdout.split("exit=", 1)[1]
    assert run.stdout.count("exit=") == 2, run.stdout
    first = _rows(without_ksqldb)
    second = _rows(with_ksqldb)
    # ksqlDB is not running: exactly its two tables fail, with the fix that says so
    assert {name for name, status in first.items() if status == "FAIL"} == {
        "ksqlDB table ksql_ohlc_minute",
        "ksqlDB table ksql_moving_average_60s",
    }, without_ksqldb
    assert "fed by ksqlDB only" in without_ksqldb
    assert "exit=1" in run.stdout.split("How to fix:")[1]
    # with ksqlDB's output published, every row of both hops passes
    assert set(second.values()) == {"ok"}, with_ksqldb
    assert run.stdout.rstrip().endswith("exit=0")
    for check in (
        "topics and partitions",
        "live topic coins_current_full",
        "dead letters coins_dead_letter",
        "Kafka tables consuming",
        "newest tick (coins_ticks)",
        "minute rollup (rollup_ohlc_minute)",
        "ingest_errors last hour",
        "snapshots refreshed",
    ):
        assert check in second, (check, with_ksqldb)
    declared = len(all_topics(REPO_ROOT / "ksqldb", Settings(kafka_bootstrap_servers=own_broker)))
    assert f"{declared}/{declared} topics as declared" in with_ksqldb
