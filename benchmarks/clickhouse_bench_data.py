"""Shared set-up of the ClickHouse benchmarks: a native Kafka broker and chDB with clickhouse/init
applied unchanged (embedded/clickhouse.py, real Kafka tables), and ticks generated inside
ClickHouse (numbers()) in the wire shape. Bulk loads go into crypto.coins_ticks through the very
SELECT of mv_coins_ticks, so the rollup views fed from coins_ticks run on them; the real Kafka
path (broker -> Kafka table -> views) is measured by bench_clickhouse_ingest and
bench_tick_latency.

Ticks: 10 coins, one every 10 s per coin, ending now; prices are smooth deterministic waves
around plausible levels (the benchmark measures work, not market realism).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
INIT_DIR = REPO_ROOT / "clickhouse" / "init"
COINS = ["BTC", "ETH", "USDT", "FDUSD", "XRP", "SOL", "USDC", "DOGE", "LINK", "AAVE"]
BASE_PRICES = [95000.0, 3400.0, 1.0, 1.0, 2.2, 190.0, 1.0, 0.38, 23.0, 310.0]
SPACING_MS = 10_000
# What clickhouse/users.d/crypto_users.xml sets in the default profile, which the Kafka engine's
# materialized views insert with.
SERVER_PROFILE_SETTINGS = "optimize_on_insert = 0, parallel_view_processing = 1"


def open_embedded_engine() -> Any:
    """A native broker and chDB with the project schema; both removed at exit."""
    sys.path.insert(0, str(REPO_ROOT))
    embedded = importlib.import_module("embedded.clickhouse")
    kafka_config = importlib.import_module("producers.kafka.connection")
    kafka_native = importlib.import_module("embedded.kafka_broker")
    workdir = Path(tempfile.mkdtemp(prefix="chdb-bench-"))
    # 30 M ticks take gigabytes: never leave them behind
    atexit.register(shutil.rmtree, workdir, True)
    broker = kafka_native.NativeKafkaBroker(workdir / "kafka")
    broker.start()
    atexit.register(broker.stop)
    topics = importlib.import_module("producers.kafka.topics")
    settings = importlib.import_module("producers.settings")
    alerts = importlib.import_module("alerts.settings")
    engine = embedded.open_embedded(
        workdir / "chdb",
        kafka_config.KafkaConnection(broker.bootstrap),
        topics=topics.topic_defaults(settings.Settings, alerts.AlertSettings),
        group_prefix="bench",
    )
    atexit.register(engine.close)
    return engine


def open_engine() -> Any:
    """A clickhouse-connect client on chDB with the project schema."""
    return open_embedded_engine().client


def create_wire_table(client: Any, name: str) -> None:
    """A Memory table shaped like what the live Kafka table reads (each message's text), plus the
    virtual columns the views of ``kafka_coins_current_full`` select."""
    client.command(
        f"CREATE TABLE IF NOT EXISTS {name} (message String, _topic String, _key String, "
        "_partition UInt64, _offset UInt64, _error String, _raw_message String) ENGINE = Memory"
    )


def tick_conversion(source: str) -> str:
    """mv_coins_ticks's SELECT (parse, validation and conversion) reading ``source``."""
    view: str = (INIT_DIR / "200_mv_coins_ticks.sql").read_text()
    conversion = view[view.index("WITH") :].rstrip().rstrip(";")
    return conversion.replace("crypto.kafka_coins_current_full", source)


def wire_messages_sql(first: int, count: int, total: int, end_ms: int) -> str:
    """SELECT of the JSON text of ticks ``first`` .. ``first + count - 1`` of ``total``, as the
    producers write them (one message per tick, column ``message``)."""
    ticks = tick_rows_sql(first, count, total, end_ms)
    return f"SELECT formatRowNoNewline('JSONEachRow', *) AS message FROM ({ticks})"


def publish_messages(engine: Any, topic: str, query: str, batch: int = 1_000) -> float:
    """Publish the texts ``query`` selects (columns key, message) to ``topic`` with the producers'
    publisher (``KafkaPublisher``, shipped options, acks=all); return seconds, acknowledgements
    included. A Kafka table in JSONAsString cannot write (the format has no output side)."""
    publisher_module = importlib.import_module("producers.kafka.publisher")
    rows = engine.client.query(query).result_rows
    records = [
        publisher_module.Record(topic, str(key).encode(), str(message).encode())
        for key, message in rows
    ]

    async def publish() -> float:
        publisher = publisher_module.KafkaPublisher(engine.connection)
        try:
            started = time.perf_counter()
            for first in range(0, len(records), batch):
                await publisher.publish(records[first : first + batch])
            return time.perf_counter() - started
        finally:
            await publisher.close()

    return asyncio.run(publish())


def tick_rows_sql(first: int, count: int, total: int, end_ms: int) -> str:
    """SELECT of ticks ``first`` .. ``first + count - 1`` of ``total``, in the wire shape."""
    steps = total // len(COINS)
    start_ms = end_ms - steps * SPACING_MS
    return f"""
SELECT
    1 AS schema_version,
    'bench' AS source,
    {COINS}[coin + 1] AS code,
    'USD' AS currency,
    toInt64({start_ms} + step * {SPACING_MS} + coin * 7) AS timestamp_ms,
    {BASE_PRICES}[coin + 1]
        * exp(0.25 * sin(step / 40000 + coin) + 0.004 * sin(step * 0.7 + coin)) AS rate,
    1e9 * (1 + 0.2 * sin(step / 900)) AS volume,
    rate * 1.9e7 AS cap,
    1e8 AS liquidity,
    1 + 0.002 * sin(step / 360) AS delta_hour,
    1 + 0.02 * sin(step / 8640) AS delta_day,
    1 + 0.05 * sin(step / 60480) AS delta_week,
    concat(code, ' coin') AS name,
    substring(code, 1, 1) AS symbol,
    toUInt32(coin + 1) AS rank,
    {BASE_PRICES}[coin + 1] * 1.5 AS all_time_high_usd,
    if(coin = 3, NULL, 1.9e7) AS circulating_supply,
    if(coin = 3, NULL, 2e7) AS total_supply,
    if(coin = 3, NULL, 2.1e7) AS max_supply,
    ['bench'] AS categories
FROM (
    SELECT number % {len(COINS)} AS coin, intDiv(number, {len(COINS)}) AS step
    FROM numbers({first}, {count})
)
"""


def load_ticks(
    client: Any, total: int, end_ms: int, chunk: int = 1_000_000, progress: bool = True
) -> float:
    """Insert ``total`` ticks into crypto.coins_ticks in chunks, converted by mv_coins_ticks's
    SELECT (the rollups fed from coins_ticks run on them); return seconds."""
    # the snapshots' one-minute refreshes would recompute every view over the growing table
    # while loading (refresh_every_snapshot starts them again)
    client.command("SYSTEM STOP VIEWS")
    create_wire_table(client, "crypto.bench_load_wire")
    insert = "INSERT INTO crypto.coins_ticks " + tick_conversion("crypto.bench_load_wire")
    started = time.perf_counter()
    for first in range(0, total, chunk):
        count = min(chunk, total - first)
        client.command("TRUNCATE TABLE crypto.bench_load_wire")
        client.command(
            "INSERT INTO crypto.bench_load_wire (message) "
            + wire_messages_sql(first, count, total, end_ms)
        )
        client.command(f"{insert} SETTINGS {SERVER_PROFILE_SETTINGS}")
        if progress:
            done = first + count
            print(
                f"  loaded {done:>12,} / {total:,} ticks ({time.perf_counter() - started:6.1f} s)",
                file=sys.stderr,
            )
    client.command("DROP TABLE crypto.bench_load_wire")
    return time.perf_counter() - started


def refresh_every_snapshot(client: Any) -> dict[str, float]:
    """Run one refresh of every dashboard snapshot; return its duration in ms, by snapshot."""
    snapshots = importlib.import_module("tests.support.clickhouse_snapshots")
    client.command("SYSTEM START VIEWS")
    durations = {}
    for item in snapshots.snapshots(INIT_DIR):
        started = time.perf_counter()
        snapshots.refresh_snapshots(client, [item])
        durations[item.snapshot] = (time.perf_counter() - started) * 1000
    return durations


@dataclass(frozen=True)
class RefreshRun:
    """One scheduled refresh of a snapshot: when it started after the minute boundary, how long
    it took (both as system.view_refreshes reports them: start to the second, duration in ms)."""

    refresh: str
    started_s: float
    duration_s: float

    @property
    def finished_s(self) -> float:
        return self.started_s + self.duration_s


def scheduled_refresh_cycle(client: Any, timeout_s: float = 1800.0) -> tuple[str, list[RefreshRun]]:
    """One refresh cycle of every snapshot as the server runs it: start the schedule, let the
    refreshes that were due run, then watch the cycle of the next minute boundary (every
    ``REFRESH EVERY 1 MINUTE`` view starts then, a ``DEPENDS ON`` view after its dependencies)
    until each view has finished its refresh of that boundary. Returns the boundary (UTC, as
    text) and each view's first refresh from it, in order of start (to the second), then of end."""
    views = "SELECT view, status, last_success_time, last_success_duration_ms, exception " + (
        "FROM system.view_refreshes WHERE database = 'crypto'"
    )
    client.command("SYSTEM START VIEWS")
    deadline = time.monotonic() + timeout_s

    # (an exception shown before the cycle, such as "cancelled" by SYSTEM STOP VIEWS during the
    # load, stays until the view's next success: a view failing in the cycle never finishes it)
    def idle() -> bool:
        return all(row[1] == "Scheduled" for row in client.query(views).result_rows)

    while not idle():  # the refreshes that were due when the schedule started
        assert time.monotonic() < deadline, "snapshots still refreshing"
        time.sleep(0.5)
    boundary = client.query(
        "SELECT toStartOfMinute(now() + INTERVAL 1 MINUTE), "
        "toString(toStartOfMinute(now() + INTERVAL 1 MINUTE))"
    ).result_rows[0]
    runs: dict[str, RefreshRun] = {}
    while True:
        states = client.query(views).result_rows
        assert time.monotonic() < deadline, f"cycle of {boundary[1]} unfinished: {states}"
        for view, _status, started, duration_ms, _exception in states:
            if view not in runs and started is not None and started >= boundary[0]:
                runs[view] = RefreshRun(
                    view, (started - boundary[0]).total_seconds(), duration_ms / 1000
                )
        if len(runs) == len(states):
            return boundary[1], sorted(runs.values(), key=lambda r: (r.started_s, r.finished_s))
        time.sleep(0.5)


def median_seconds(action: Callable[[], object], runs: int) -> float:
    """Median wall time of ``runs`` calls, after one warm-up call."""
    action()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)
