"""Shared set-up of the ClickHouse benchmarks: an engine with clickhouse/init applied, and ticks
generated inside ClickHouse (numbers()) and inserted into the Kafka table, so every materialized
view of the real pipeline runs on them.

Ticks: 10 coins, one every 10 s per coin, ending now; prices are smooth deterministic waves
around plausible levels (the benchmark measures work, not market realism).
"""

from __future__ import annotations

import atexit
import importlib
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
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

# The wire columns the generator fills (the rest of the Kafka table's columns stay NULL/empty).
WIRE_COLUMNS = (
    "schema_version, source, code, currency, timestamp_ms, rate, volume, cap, liquidity, "
    "delta_hour, delta_day, delta_week, name, symbol, rank, all_time_high_usd, "
    "circulating_supply, total_supply, max_supply, categories"
)


def open_engine() -> Any:
    """A chDB-backed client with the project schema (Kafka tables as Null tables)."""
    import clickhouse_connect

    sys.path.insert(0, str(REPO_ROOT))
    loader = importlib.import_module("tests.support.clickhouse_loader")
    data_path = tempfile.mkdtemp(prefix="chdb-bench-")
    # 30 M ticks take gigabytes: never leave them behind
    atexit.register(shutil.rmtree, data_path, True)
    client = clickhouse_connect.get_client(dsn=f"chdb://{data_path}")
    loader.load_sql_dir(client, INIT_DIR)
    return client


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


def load_through_pipeline(
    client: Any, total: int, end_ms: int, chunk: int = 1_000_000, progress: bool = True
) -> float:
    """Insert ``total`` ticks into crypto.kafka_coins_current_full in chunks; return seconds."""
    started = time.perf_counter()
    for first in range(0, total, chunk):
        count = min(chunk, total - first)
        client.command(
            f"INSERT INTO crypto.kafka_coins_current_full ({WIRE_COLUMNS}) "
            + tick_rows_sql(first, count, total, end_ms)
            + f" SETTINGS {SERVER_PROFILE_SETTINGS}"
        )
        if progress:
            done = first + count
            print(
                f"  loaded {done:>12,} / {total:,} ticks ({time.perf_counter() - started:6.1f} s)",
                file=sys.stderr,
            )
    return time.perf_counter() - started


def refresh_every_snapshot(client: Any) -> dict[str, float]:
    """Run one refresh of every dashboard snapshot; return its duration in ms, by snapshot."""
    snapshots = importlib.import_module("tests.support.clickhouse_snapshots")
    durations = {}
    for item in snapshots.snapshots(INIT_DIR):
        started = time.perf_counter()
        snapshots.refresh_snapshots(client, [item])
        durations[item.snapshot] = (time.perf_counter() - started) * 1000
    return durations


def median_seconds(action: Callable[[], object], runs: int) -> float:
    """Median wall time of ``runs`` calls, after one warm-up call."""
    action()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)
