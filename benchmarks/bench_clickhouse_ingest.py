"""Ingest throughput of the ClickHouse pipeline versus a plain insert into the raw table.

Both sides read the same messages, generated beforehand into a Memory table shaped like the
Kafka table (the "topic"), so generation is not measured.
- Pipeline: the messages are inserted into crypto.kafka_coins_current_full (the Kafka table; a
  Null table on chDB), so every materialized view runs: validation and conversion into
  coins_ticks, the error router, and the 1-minute and 1-day rollups fed from coins_ticks.
- Baseline: the same messages, converted by the very SELECT of mv_coins_ticks, inserted into a
  plain MergeTree copy of coins_ticks with no views (what the original project had).

Usage: .venv/bin/python benchmarks/bench_clickhouse_ingest.py [--ticks N] [--runs N]
Goal: pipeline rows/s >= 0.5 x plain rows/s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from clickhouse_bench_data import (
    INIT_DIR,
    SERVER_PROFILE_SETTINGS,
    WIRE_COLUMNS,
    open_engine,
    tick_rows_sql,
)

GOAL = 0.5
STORED_TABLES = ("coins_ticks", "rollup_ohlc_minute", "rollup_ohlc_day", "bench_plain_ticks")


def prepare(client: Any, ticks: int, end_ms: int) -> str:
    """Create the message table and the plain table; return the baseline INSERT."""
    client.command(
        "CREATE TABLE IF NOT EXISTS crypto.bench_wire AS crypto.kafka_coins_current_full "
        "ENGINE = Memory"
    )
    client.command(
        f"INSERT INTO crypto.bench_wire ({WIRE_COLUMNS}) {tick_rows_sql(0, ticks, ticks, end_ms)}"
    )
    client.command(
        "CREATE TABLE IF NOT EXISTS crypto.bench_plain_ticks AS crypto.coins_ticks "
        "ENGINE = MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (code, ts)"
    )
    view: str = (INIT_DIR / "200_mv_coins_ticks.sql").read_text()
    conversion: str = view[view.index("SELECT") :].rstrip().rstrip(";")
    return "INSERT INTO crypto.bench_plain_ticks " + conversion.replace(
        "crypto.kafka_coins_current_full", "crypto.bench_wire"
    )


def timed_insert(client: Any, sql: str) -> float:
    for table in STORED_TABLES:
        client.command(f"TRUNCATE TABLE crypto.{table}")
    started = time.perf_counter()
    client.command(sql)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--ticks", type=int, default=5_000_000, help="messages per run (default 5M)"
    )
    parser.add_argument("--runs", type=int, default=3, help="alternating runs of each (default 3)")
    args = parser.parse_args()

    client = open_engine()
    plain_sql = prepare(client, args.ticks, int(time.time() * 1000))
    pipeline_sql = (
        "INSERT INTO crypto.kafka_coins_current_full SELECT * FROM crypto.bench_wire "
        f"SETTINGS {SERVER_PROFILE_SETTINGS}"
    )
    plain_runs, pipeline_runs = [], []
    for _ in range(args.runs):  # alternate, so a noisy neighbour hurts both sides alike
        plain_runs.append(timed_insert(client, plain_sql))
        pipeline_runs.append(timed_insert(client, pipeline_sql))

    stored = client.query("SELECT count() FROM crypto.coins_ticks").result_rows[0][0]
    assert stored == args.ticks, f"pipeline stored {stored} of {args.ticks} ticks"
    plain_rate = args.ticks / statistics.median(plain_runs)
    pipeline_rate = args.ticks / statistics.median(pipeline_runs)
    ratio = pipeline_rate / plain_rate
    print(f"messages: {args.ticks:,}; median of {args.runs} runs each")
    print(f"plain insert into raw MergeTree : {plain_rate:12,.0f} rows/s")
    print(f"Kafka table -> MV chain         : {pipeline_rate:12,.0f} rows/s")
    verdict = "meets" if ratio >= GOAL else "MISSES"
    print(
        f"ClickHouse ingest: {pipeline_rate:,.0f} rows/s through the MV chain = {ratio:.2f}x the "
        f"plain insert ({verdict} goal >= {GOAL})"
    )


if __name__ == "__main__":
    main()
