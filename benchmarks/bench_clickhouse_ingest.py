"""Ingest throughput of the real Kafka path versus a plain insert into the raw table.

Both sides read the same messages, generated beforehand into a Memory table in the wire shape,
so generation is not measured.
- Kafka path: the messages are inserted into crypto.kafka_coins_current_full, which for a real
  Kafka table means ClickHouse's own producer writes them to the broker; the same table then
  consumes them and every materialized view runs (validation and conversion into coins_ticks,
  the error router, the 1-minute and 1-day rollups). Timed from the start of the INSERT until
  the table's consumer group committed the last offset (native broker, chDB, shipped settings).
- Baseline: the same messages, converted by the very SELECT of mv_coins_ticks, inserted into a
  plain MergeTree copy of coins_ticks with no views (what the original project had).

Usage: .venv/bin/python benchmarks/bench_clickhouse_ingest.py [--ticks N] [--runs N]
Goal: Kafka path rows/s >= 0.5 x plain rows/s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from clickhouse_bench_data import (
    SERVER_PROFILE_SETTINGS,
    WIRE_COLUMNS,
    create_wire_table,
    open_embedded_engine,
    tick_conversion,
    tick_rows_sql,
)

GOAL = 0.5
STORED_TABLES = ("coins_ticks", "rollup_ohlc_minute", "rollup_ohlc_day", "bench_plain_ticks")


def prepare(client: Any, ticks: int, end_ms: int) -> str:
    """Create the message table and the plain table; return the baseline INSERT."""
    create_wire_table(client, "crypto.bench_wire")
    client.command(
        f"INSERT INTO crypto.bench_wire ({WIRE_COLUMNS}) {tick_rows_sql(0, ticks, ticks, end_ms)}"
    )
    client.command(
        "CREATE TABLE IF NOT EXISTS crypto.bench_plain_ticks AS crypto.coins_ticks "
        "ENGINE = MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (code, ts)"
    )
    conversion: str = tick_conversion("crypto.bench_wire")
    return "INSERT INTO crypto.bench_plain_ticks " + conversion


def truncate(client: Any) -> None:
    for table in STORED_TABLES:
        client.command(f"TRUNCATE TABLE crypto.{table}")


def timed_insert(client: Any, sql: str) -> float:
    truncate(client)
    started = time.perf_counter()
    client.command(sql)
    return time.perf_counter() - started


def timed_kafka_path(engine: Any, sql: str) -> float:
    truncate(engine.client)
    table = engine.table("kafka_coins_current_full")
    started = time.perf_counter()
    engine.client.command(sql)
    engine.wait_caught_up(table, timeout_s=3600)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--ticks", type=int, default=200_000, help="messages per run (default 200k)"
    )
    parser.add_argument("--runs", type=int, default=3, help="alternating runs of each (default 3)")
    args = parser.parse_args()

    engine = open_embedded_engine()
    client = engine.client
    plain_sql = prepare(client, args.ticks, int(time.time() * 1000))
    kafka_sql = (
        f"INSERT INTO crypto.kafka_coins_current_full ({WIRE_COLUMNS}) "
        f"SELECT {WIRE_COLUMNS} FROM crypto.bench_wire SETTINGS {SERVER_PROFILE_SETTINGS}"
    )
    plain_runs, kafka_runs = [], []
    for _ in range(args.runs):  # alternate, so a noisy neighbour hurts both sides alike
        plain_runs.append(timed_insert(client, plain_sql))
        kafka_runs.append(timed_kafka_path(engine, kafka_sql))

    stored = client.query("SELECT count() FROM crypto.coins_ticks").result_rows[0][0]
    assert stored == args.ticks, f"the Kafka path stored {stored} of {args.ticks} ticks"
    plain_rate = args.ticks / statistics.median(plain_runs)
    kafka_rate = args.ticks / statistics.median(kafka_runs)
    ratio = kafka_rate / plain_rate
    print(f"messages: {args.ticks:,}; median of {args.runs} runs each")
    print(f"plain insert into raw MergeTree        : {plain_rate:12,.0f} rows/s")
    print(f"broker -> Kafka table -> MV chain      : {kafka_rate:12,.0f} rows/s")
    verdict = "meets" if ratio >= GOAL else "MISSES"
    print(
        f"ClickHouse ingest: {kafka_rate:,.0f} rows/s through the broker, the Kafka engine and "
        f"the MV chain = {ratio:.3f}x the plain insert ({verdict} goal >= {GOAL})"
    )


if __name__ == "__main__":
    main()
