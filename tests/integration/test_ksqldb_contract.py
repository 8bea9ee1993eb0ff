"""ksqlDB's output, shaped exactly as the ksqlDB tables emit it, through the ClickHouse path.

ksqlDB writes one message per update of a window (EMIT CHANGES), and Kafka delivers at least
once, so ClickHouse receives several versions of every window, some twice. The Kafka tables,
materialized views and ``*_final`` views of clickhouse/init must turn them into exactly one
correct row per window. The messages come from tests/support/ksqldb_emulator.py, which follows
ksqldb/*.sql; their expected final values are also recomputed here from the raw ticks.
"""

from __future__ import annotations

import json
import random
import statistics
from typing import Any

import pytest

from provisioning.contracts import example as contract_example
from tests.support.ksqldb_emulator import (
    MINUTE_MS,
    Tick,
    Update,
    final_values,
    moving_average_60s,
    ohlc_by_minute,
)

BASE_MS = 1_732_449_600_000  # a minute boundary (2024-11-24T12:00:00Z)
OHLC_TABLE = "crypto.kafka_coins_ohlc_minute"
AVERAGE_TABLE = "crypto.kafka_coins_moving_average_60s"


def _ticks(seconds: int = 150, step_s: int = 5) -> list[Tick]:
    generator = random.Random(20241124)
    rates = {"BTC": 98_000.0, "ETH": 3_400.0}
    ticks = []
    for offset_s in range(0, seconds, step_s):
        for code in rates:
            rates[code] *= 1 + generator.gauss(0, 0.001)
            ticks.append(Tick(code, BASE_MS + offset_s * 1000 + 250, round(rates[code], 6)))
    return ticks


def _deliver(kafka_feeder: Any, table: str, topic: str, updates: list[Update]) -> list[Update]:
    """All updates in order, then the first ten again: a consumer restart replaying a batch."""
    delivered = updates + updates[:10]
    kafka_feeder.insert_values(
        table,
        [update.json for update in delivered],
        topic=topic,
        keys=[update.key for update in delivered],
    )
    return delivered


def _rows(client: Any, query: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in client.query(query).result_rows]


def test_ohlc_updates_become_one_correct_row_per_window(clickhouse: Any, kafka_feeder: Any) -> None:
    ticks = _ticks()
    updates = ohlc_by_minute(ticks)
    _deliver(kafka_feeder, OHLC_TABLE, "coins_ohlc_minute", updates)

    expected = final_values(updates)
    # independent check of the expected values: first/last/max/min of each minute's ticks
    for (code, start), value in expected.items():
        window = [
            t.rate for t in ticks if t.code == code and start <= t.timestamp_ms < start + MINUTE_MS
        ]
        assert (value["open"], value["close"]) == (window[0], window[-1])
        assert (value["high"], value["low"], value["tick_count"]) == (
            max(window),
            min(window),
            len(window),
        )
    assert len(expected) == 6
    assert len(updates) > 2 * len(expected), "several updates per window"

    columns = (
        "code, toUnixTimestamp64Milli(window_start), toUnixTimestamp64Milli(window_end), "
        "open, high, low, close, tick_count"
    )
    wanted = sorted(
        (
            v["code"],
            v["window_start_ms"],
            v["window_end_ms"],
            v["open"],
            v["high"],
            v["low"],
            v["close"],
            v["tick_count"],
        )
        for v in expected.values()
    )
    view_rows = _rows(
        clickhouse,
        f"SELECT {columns} FROM crypto.ksql_ohlc_minute_final ORDER BY code, window_start",
    )
    assert view_rows == wanted
    # the storage table itself collapses to the same rows with FINAL (ReplacingMergeTree version)
    final_rows = _rows(
        clickhouse,
        f"SELECT {columns} FROM crypto.ksql_ohlc_minute FINAL ORDER BY code, window_start",
    )
    assert final_rows == wanted


def test_moving_average_updates_become_one_correct_row_per_window(
    clickhouse: Any, kafka_feeder: Any
) -> None:
    ticks = _ticks()
    updates = moving_average_60s(ticks)
    _deliver(kafka_feeder, AVERAGE_TABLE, "coins_moving_average_60s", updates)

    expected = final_values(updates)
    for (code, start), value in expected.items():
        window = [
            t.rate for t in ticks if t.code == code and start <= t.timestamp_ms < start + 60_000
        ]
        assert value["moving_average"] == pytest.approx(statistics.fmean(window), rel=1e-12)
        assert value["tick_count"] == len(window)
    # 150 s of ticks, windows every 30 s: 6 windows per coin, each tick in two of them
    assert len(expected) == 12
    assert len(updates) == 2 * len(ticks)

    rows = _rows(
        clickhouse,
        "SELECT code, toUnixTimestamp64Milli(window_start), toUnixTimestamp64Milli(window_end), "
        "moving_average, tick_count FROM crypto.ksql_moving_average_60s_final "
        "ORDER BY code, window_start",
    )
    assert rows == sorted(
        (v["code"], v["window_start_ms"], v["window_end_ms"], v["moving_average"], v["tick_count"])
        for v in expected.values()
    )


def test_the_message_shape_is_the_contract_file(clickhouse: Any, kafka_feeder: Any) -> None:
    """The contract example itself, as ksqlDB would write it, lands as one typed row."""
    example = contract_example("coins_ohlc_minute")
    [update] = ohlc_by_minute([Tick("BTC", example["window_start_ms"] + 1, 1.0)])
    assert list(update.value) == list(example)

    kafka_feeder.insert_values(OHLC_TABLE, [json.dumps(example)], topic="coins_ohlc_minute")
    rows = _rows(
        clickhouse,
        "SELECT code, toUnixTimestamp64Milli(window_start), open, high, low, close, tick_count "
        "FROM crypto.ksql_ohlc_minute_final",
    )
    assert rows == [
        (
            example["code"],
            example["window_start_ms"],
            example["open"],
            example["high"],
            example["low"],
            example["close"],
            example["tick_count"],
        )
    ]


def test_upper_case_names_never_become_a_window_row(clickhouse: Any, kafka_feeder: Any) -> None:
    """What ksqlDB writes when an alias is not backtick-quoted: CODE, OPEN... ClickHouse's
    JSONEachRow matches names case-sensitively, so such a value must not pass as a valid window."""
    [update] = ohlc_by_minute([Tick("BTC", BASE_MS + 1, 1.0)])
    upper = json.dumps({name.upper(): value for name, value in update.value.items()})
    kafka_feeder.insert_values(OHLC_TABLE, [upper, update.json], topic="coins_ohlc_minute")

    rows = _rows(clickhouse, "SELECT code, tick_count FROM crypto.ksql_ohlc_minute_final")
    assert rows == [("BTC", 1)]
