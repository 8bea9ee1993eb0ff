"""`make local` for real: its supervisor (`coins local --headless`) runs the native broker, the
demo producers and chDB with ClickHouse's Kafka engine; SIGINT stops it; a restart resumes; in
the end every tick on the topic is in ClickHouse exactly once.

The store is read back with `coins sql` in its own process (chDB: one data path per process,
and this test process may hold the suite's own chDB engine).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from embedded.clickhouse import end_offsets
from embedded.kafka_broker import NativeKafkaBroker, free_port
from producers.kafka.connection import KafkaConnection
from tests.support.commands import COINS_CLI, run_command
from tests.support.waiting import eventually

STATUS = re.compile(
    r"status: ticks (?P<ticks>\d+), minutes (?P<minutes>\d+), history (?P<history>\d+), "
    r"indicators (?P<indicators>\d+), errors (?P<errors>\d+)"
)
STARTUP_DEADLINE_S = 240.0
STOP_TIMEOUT_S = 120.0


class Supervisor:
    """One `coins local --headless` process whose status lines are read as they come."""

    def __init__(self, env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        self.output = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "producers.cli", "local", "--headless", "--status-every", "2"],
            cwd=cwd,
            env=env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def text(self) -> str:
        return self.log.read_text()

    def statuses(self) -> list[dict[str, int]]:
        return [{k: int(v) for k, v in m.groupdict().items()} for m in STATUS.finditer(self.text())]

    def wait_for(
        self, condition: str, check: Callable[[dict[str, int]], bool], deadline_s: float
    ) -> dict[str, int]:
        def last_status() -> dict[str, int] | None:
            if self.process.poll() is not None:
                pytest.fail(f"`coins local` exited ({self.process.returncode}):\n{self.text()}")
            statuses = self.statuses()
            return statuses[-1] if statuses else None

        try:
            reached = eventually(
                last_status,
                until=lambda status: status is not None and check(status),
                within=deadline_s,
                what=f"a status with {condition}",
                interval=1.0,
            )
        except AssertionError:
            self.interrupt()
            raise AssertionError(f"no status with {condition}:\n{self.text()}") from None
        assert reached is not None
        return reached

    def interrupt(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT_S)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.output.close()
        return code


def _sql(env: dict[str, str], cwd: Path, query: str) -> list[list[str]]:
    result = run_command(
        [*COINS_CLI, "sql", "--format", "tsv", query], cwd=cwd, env=env, timeout=180
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    return [line.split("\t") for line in lines[1:]]


async def _topic_ticks(bootstrap: str, topic: str) -> list[tuple[str, int]]:
    """Every (code, timestamp_ms) on ``topic``, read from the beginning to the end offsets."""
    ends = await end_offsets(KafkaConnection(bootstrap_servers=bootstrap), topic)
    partitions = list(ends)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ticks: list[tuple[str, int]] = []
        async with asyncio.timeout(60):
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        message = json.loads(record.value or b"{}")
                        ticks.append((message["code"], int(message["timestamp_ms"])))
        return ticks
    finally:
        await consumer.stop()


def test_make_local_runs_stops_and_resumes_without_losing_or_duplicating_ticks(
    tmp_path: Path,
) -> None:
    local_dir = tmp_path / ".local"
    kafka_port, controller_port = free_port(), free_port()
    env = {
        **os.environ,
        "COINS_LOCAL_DIR": str(local_dir),
        "COINS_LOCAL_KAFKA_PORT": str(kafka_port),
        "COINS_LOCAL_KAFKA_CONTROLLER_PORT": str(controller_port),
        "COINS_COINS": "BTC,ETH",
        "COINS_DEMO_INTERVAL_SECONDS": "1",
        "COINS_BACKFILL_SINCE": (
            dt.datetime.now(dt.UTC).date() - dt.timedelta(days=40)
        ).isoformat(),
        "COINS_LOG_LEVEL": "INFO",
    }
    env.pop("COINS_LCW_API_KEY", None)
    env.pop("COINS_CLICKHOUSE_URL", None)

    first = Supervisor(env, tmp_path, tmp_path / "first.log")
    reached = first.wait_for(
        "ticks, minute rollups, history and indicator snapshots",
        lambda s: s["ticks"] > 0 and s["minutes"] > 0 and s["history"] > 0 and s["indicators"] > 0,
        STARTUP_DEADLINE_S,
    )
    assert reached["errors"] == 0
    assert first.interrupt() == 0, first.text()
    out = first.text()
    assert "ksqlDB and Metabase do not run in this mode" in out
    assert "demo source" in out
    assert out.rstrip().endswith(f"stopped; data kept in {local_dir}")
    assert (local_dir / "kafka" / "data" / "meta.properties").exists()
    stored_after_first = int(
        _sql(env, tmp_path, "SELECT count() FROM crypto.coins_ticks FINAL")[0][0]
    )
    assert stored_after_first >= reached["ticks"]

    second = Supervisor(env, tmp_path, tmp_path / "second.log")
    resumed = second.wait_for(
        "more ticks than the first run stored",
        lambda s: s["ticks"] > stored_after_first,
        STARTUP_DEADLINE_S,
    )
    assert second.statuses()[0]["ticks"] >= stored_after_first  # the store kept its data
    assert resumed["errors"] == 0
    assert "topics: all exist (resuming)" in second.text()
    assert second.interrupt() == 0, second.text()

    broker = NativeKafkaBroker(
        local_dir / "kafka", port=kafka_port, controller_port=controller_port, heap="256m"
    )
    broker.start()
    try:
        on_topic = asyncio.run(_topic_ticks(broker.bootstrap, "coins_current_full"))
    finally:
        broker.stop()
    published = set(on_topic)
    assert len(published) > stored_after_first

    rows = _sql(
        env,
        tmp_path,
        "SELECT code, toUnixTimestamp64Milli(ts), count() FROM crypto.coins_ticks FINAL "
        "GROUP BY code, ts",
    )
    stored = {(code, int(ms)) for code, ms, _ in rows}
    assert all(count == "1" for _, _, count in rows)
    assert stored == published  # nothing lost, nothing invented
    (counted,) = _sql(env, tmp_path, "SELECT sum(tick_count) FROM crypto.ohlc_minute_live")
    assert int(counted[0]) == len(published)  # the minute rollup counts every tick once
    (history, indicators) = _sql(
        env,
        tmp_path,
        "SELECT (SELECT count() FROM crypto.coins_history FINAL), "
        "(SELECT count() FROM crypto.moving_averages_daily_snapshot)",
    )[0]
    assert int(history) >= 2 * 39
    assert int(indicators) > 0
