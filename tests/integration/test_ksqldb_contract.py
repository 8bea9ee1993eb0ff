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
    Update,
    final_values,
    moving_average_60s,
    ohlc_by_minute,
)
from tests.support.tick_data import Tick

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


OHLC_FIELDS = ("code", "window_start_ms", "window_end_ms", "open", "high", "low", "close")
AVERAGE_FIELDS = ("code", "window_start_ms", "window_end_ms", "moving_average")


def _stored(client: Any, relation: str, fields: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """The message fields ``fields`` (then tick_count) as ``relation`` holds them: a ``*_ms``
    field is its DateTime64 column in epoch milliseconds; by code and window."""
    columns = [
        f"toUnixTimestamp64Milli({f.removesuffix('_ms')})" if f.endswith("_ms") else f
        for f in (*fields, "tick_count")
    ]
    return _rows(client, f"SELECT {', '.join(columns)} FROM {relation} ORDER BY code, window_start")


def _rates(ticks: list[Tick], code: str, start_ms: int, length_ms: int) -> list[float]:
    """The rates of ``code``'s ticks in the window [start_ms, start_ms + length_ms)."""
    return [
        t.rate
        for t in ticks
        if t.code == code and start_ms <= t.timestamp_ms < start_ms + length_ms
    ]


def _fields(messages: Any, fields: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return sorted(tuple(m[f] for f in (*fields, "tick_count")) for m in messages)


def test_ohlc_updates_become_one_correct_row_per_window(clickhouse: Any, kafka_feeder: Any) -> None:
    ticks = _ticks()
    updates = ohlc_by_minute(ticks)
    _deliver(kafka_feeder, OHLC_TABLE, "coins_ohlc_minute", updates)

    expected = final_values(updates)
    # independent check of the expected values: first/last/max/min of each minute's ticks
    for (code, start), value in expected.items():
        window = _rates(ticks, code, start, MINUTE_MS)
        assert (value["open"], value["close"]) == (window[0], window[-1])
        assert (value["high"], value["low"], value["tick_count"]) == (
            max(window),
            min(window),
            len(window),
        )
    assert len(expected) == 6
    assert len(updates) > 2 * len(expected), "several updates per window"

    wanted = _fields(expected.values(), OHLC_FIELDS)
    assert _stored(clickhouse, "crypto.ksql_ohlc_minute_final", OHLC_FIELDS) == wanted
    # the storage table itself collapses to the same rows with FINAL (ReplacingMergeTree version)
    assert _stored(clickhouse, "crypto.ksql_ohlc_minute FINAL", OHLC_FIELDS) == wanted


def test_moving_average_updates_become_one_correct_row_per_window(
    clickhouse: Any, kafka_feeder: Any
) -> None:
    ticks = _ticks()
    updates = moving_average_60s(ticks)
    _deliver(kafka_feeder, AVERAGE_TABLE, "coins_moving_average_60s", updates)

    expected = final_values(updates)
    for (code, start), value in expected.items():
        window = _rates(ticks, code, start, 60_000)
        assert value["moving_average"] == pytest.approx(statistics.fmean(window), rel=1e-12)
        assert value["tick_count"] == len(window)
    # 150 s of ticks, windows every 30 s: 6 windows per coin, each tick in two of them
    assert len(expected) == 12
    assert len(updates) == 2 * len(ticks)

    rows = _stored(clickhouse, "crypto.ksql_moving_average_60s_final", AVERAGE_FIELDS)
    assert rows == _fields(expected.values(), AVERAGE_FIELDS)


def test_the_message_shape_is_the_contract_file(clickhouse: Any, kafka_feeder: Any) -> None:
    """The contract example itself, as ksqlDB would write it, lands as one typed row."""
    example = contract_example("coins_ohlc_minute")
    [update] = ohlc_by_minute([Tick("BTC", example["window_start_ms"] + 1, 1.0)])
    assert list(update.value) == list(example)

    kafka_feeder.insert_values(OHLC_TABLE, [json.dumps(example)], topic="coins_ohlc_minute")
    stored = _stored(clickhouse, "crypto.ksql_ohlc_minute_final", OHLC_FIELDS)
    assert stored == _fields([example], OHLC_FIELDS)


def test_upper_case_names_never_become_a_window_row(clickhouse: Any, kafka_feeder: Any) -> None:
    """What ksqlDB writes when an alias is not backtick-quoted: CODE, OPEN... ClickHouse's
    JSONEachRow matches names case-sensitively, so such a value must not pass as a valid window."""
    [update] = ohlc_by_minute([Tick("BTC", BASE_MS + 1, 1.0)])
    upper = json.dumps({name.upper(): value for name, value in update.value.items()})
    kafka_feeder.insert_values(OHLC_TABLE, [upper, update.json], topic="coins_ohlc_minute")

    rows = _rows(clickhouse, "SELECT code, tick_count FROM crypto.ksql_ohlc_minute_final")
    assert rows == [("BTC", 1)]
