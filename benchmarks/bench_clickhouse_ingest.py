"""Ingest throughput of the live-tick path, taken apart: the materialized-view chain, the Kafka
engine reading the broker, and ClickHouse's producer, each against a plain insert.

Every part reads the same messages, generated beforehand into a Memory table as the producers
write them (one JSON text per tick), so generation is not measured. Native broker, chDB, shipped
settings (clickhouse/init unchanged, the server profile of clickhouse/users.d):
- plain insert (baseline): the messages converted by the very SELECT of mv_coins_ticks (parse,
  ingest rule, conversion) into a plain MergeTree copy of coins_ticks with no views;
- MV chain: the messages inserted into a Null table shaped like the Kafka table, carrying copies
  of the Kafka table's two views (into coins_ticks and ingest_errors), so everything after the
  engine runs: parse, rule, coins_ticks, the error router, the 1-minute and 1-day rollups;
- broker -> engine -> chain: the messages already on the topic (written while the Kafka table's
  views were detached, so it did not consume), then its views attached; timed until the table's
  consumer group committed the last offset (the engine commits after the views ran);
- publisher: the producers' own publisher (KafkaPublisher, acks=all, batches of 1,000) writing
  them to the broker (a JSONAsString Kafka table cannot write: the format has no output side);
- whole path: the publisher with the views attached, from the first send until the last commit
  (what this benchmark measured before it was taken apart, then through ClickHouse's producer).

Usage: .venv/bin/python benchmarks/bench_clickhouse_ingest.py [--ticks N] [--runs N]
Goal: MV chain rows/s >= 0.5 x plain insert rows/s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from clickhouse_bench_data import (
    INIT_DIR,
    SERVER_PROFILE_SETTINGS,
    create_wire_table,
    open_embedded_engine,
    publish_messages,
    tick_conversion,
    wire_messages_sql,
)

GOAL = 0.5
KAFKA_TABLE = "crypto.kafka_coins_current_full"
# The Kafka table's views. It consumes as soon as one of them is attached (a block read then
# reaches only the views attached by then): the storing view goes first, as the benchmark's
# messages are all valid and the error router writes nothing for them.
VIEWS = ("mv_coins_ticks", "mv_errors_coins_current_full")
VIEW_FILES = ("200_mv_coins_ticks.sql", "205_mv_errors_coins_current_full.sql")
STORED_TABLES = (
    "coins_ticks",
    "rollup_ohlc_minute",
    "rollup_ohlc_day",
    "ingest_errors",
    "bench_plain_ticks",
)


def prepare(client: Any, ticks: int, end_ms: int) -> None:
    """The messages and the plain table."""
    create_wire_table(client, "crypto.bench_wire")
    client.command(
        f"INSERT INTO crypto.bench_wire (message) {wire_messages_sql(0, ticks, ticks, end_ms)}"
    )
    client.command(
        "CREATE TABLE IF NOT EXISTS crypto.bench_plain_ticks AS crypto.coins_ticks "
        "ENGINE = MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (code, ts)"
    )


def create_chain(client: Any) -> None:
    """A Null table shaped like the Kafka table, with copies of its two views."""
    client.command("DROP TABLE IF EXISTS crypto.bench_chain_source")
    client.command(
        "CREATE TABLE crypto.bench_chain_source (message String, _topic String, _key String, "
        "_partition UInt64, _offset UInt64, _error String, _raw_message String) ENGINE = Null"
    )
    for view, file in zip(VIEWS, VIEW_FILES, strict=True):
        sql = (INIT_DIR / file).read_text().replace(KAFKA_TABLE, "crypto.bench_chain_source")
        client.command(sql.replace(f"crypto.{view} ", f"crypto.bench_{view} ").rstrip().rstrip(";"))


def truncate(client: Any) -> None:
    for table in STORED_TABLES:
        client.command(f"TRUNCATE TABLE crypto.{table}")


def timed(client: Any, action: Callable[[], None]) -> float:
    truncate(client)
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def insert_to_broker(engine: Any) -> float:
    """Publish the messages, keyed by coin, with the producers' publisher."""
    topic = engine.table("kafka_coins_current_full").topics[0]
    query = "SELECT JSONExtractString(message, 'code') AS key, message FROM crypto.bench_wire"
    return float(publish_messages(engine, topic, query))


def consume_backlog(engine: Any) -> tuple[float, float]:
    """(producer seconds, broker -> engine -> chain seconds) for one backlog of the messages."""
    client = engine.client
    truncate(client)
    for view in VIEWS:
        client.command(f"DETACH TABLE crypto.{view}")
    try:
        produced = insert_to_broker(engine)
    finally:
        started = time.perf_counter()
        for view in VIEWS:
            client.command(f"ATTACH TABLE crypto.{view}")
    engine.wait_caught_up(engine.table("kafka_coins_current_full"), timeout_s=3600)
    return produced, time.perf_counter() - started


def whole_path(engine: Any) -> float:
    truncate(engine.client)
    started = time.perf_counter()
    insert_to_broker(engine)
    engine.wait_caught_up(engine.table("kafka_coins_current_full"), timeout_s=3600)
    return time.perf_counter() - started


def stored_ticks(client: Any) -> int:
    return int(client.query("SELECT count() FROM crypto.coins_ticks").result_rows[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--ticks", type=int, default=200_000, help="messages per run (default 200k)"
    )
    parser.add_argument("--runs", type=int, default=3, help="alternating runs of each (default 3)")
    args = parser.parse_args()

    engine = open_embedded_engine()
    client = engine.client
    prepare(client, args.ticks, int(time.time() * 1000))
    create_chain(client)
    conversion = tick_conversion("crypto.bench_wire")
    plain_sql = (
        f"INSERT INTO crypto.bench_plain_ticks {conversion} SETTINGS {SERVER_PROFILE_SETTINGS}"
    )
    chain_sql = (
        "INSERT INTO crypto.bench_chain_source (message) SELECT message FROM crypto.bench_wire "
        f"SETTINGS {SERVER_PROFILE_SETTINGS}"
    )
    runs: dict[str, list[float]] = {
        "plain": [],
        "chain": [],
        "producer": [],
        "engine": [],
        "whole": [],
    }
    for _ in range(args.runs):  # alternate, so a noisy neighbour hurts every part alike
        runs["plain"].append(timed(client, lambda: client.command(plain_sql)))
        runs["chain"].append(timed(client, lambda: client.command(chain_sql)))
        assert stored_ticks(client) == args.ticks, "the MV chain lost ticks"
        produced, consumed = consume_backlog(engine)
        assert stored_ticks(client) == args.ticks, "the Kafka engine lost ticks"
        runs["producer"].append(produced)
        runs["engine"].append(consumed)
        runs["whole"].append(whole_path(engine))
        assert stored_ticks(client) == args.ticks, "the whole path lost ticks"

    rate = {name: args.ticks / statistics.median(times) for name, times in runs.items()}
    print(f"messages: {args.ticks:,}; median of {args.runs} runs each")
    labels = {
        "plain": "plain insert (parse + rule + convert, no views)",
        "chain": "MV chain (Null table + the Kafka table's views)",
        "engine": "backlog on the broker -> Kafka engine -> MV chain",
        "producer": "publisher -> broker (KafkaPublisher, acks=all)",
        "whole": "whole path (publish -> engine -> chain -> commit)",
    }
    for name, label in labels.items():
        print(f"{label:<52}: {rate[name]:12,.0f} rows/s = {rate[name] / rate['plain']:.3f}x plain")
    print(
        f"Kafka engine reading a backlog: {rate['engine'] / rate['chain']:.3f}x the MV chain alone"
    )
    ratio = rate["chain"] / rate["plain"]
    verdict = "meets" if ratio >= GOAL else "MISSES"
    print(
        f"ClickHouse ingest: MV chain {rate['chain']:,.0f} rows/s = {ratio:.3f}x the plain insert "
        f"({verdict} goal >= {GOAL}); broker -> engine -> chain {rate['engine']:,.0f} rows/s "
        f"({rate['engine'] / rate['plain']:.3f}x plain)"
    )


if __name__ == "__main__":
    main()
