"""The Python model of the ksqlDB windows used by the contract tests."""

from __future__ import annotations

import struct

import pytest

from tests.support.ksqldb_emulator import (
    final_values,
    moving_average_60s,
    ohlc_by_minute,
    window_starts,
    windowed_key,
)
from tests.support.tick_data import Tick


@pytest.mark.parametrize(
    ("timestamp_ms", "expected"),
    [
        (45_000, [0, 30_000]),
        (30_000, [0, 30_000]),
        (59_999, [0, 30_000]),
        (60_000, [30_000, 60_000]),
        (29_999, [0]),  # Kafka Streams never opens a window before the epoch
    ],
)
def test_hopping_window_starts(timestamp_ms: int, expected: list[int]) -> None:
    assert window_starts(timestamp_ms, 60_000, 30_000) == expected


def test_tumbling_window_start() -> None:
    assert window_starts(119_999, 60_000, 60_000) == [60_000]


def test_windowed_key_is_key_bytes_then_window_start() -> None:
    key = windowed_key("BTC", 120_000)
    assert key[:3] == b"BTC"
    assert struct.unpack(">q", key[3:]) == (120_000,)


def test_ohlc_updates_track_first_last_high_low_by_arrival() -> None:
    ticks = [Tick("BTC", 1_000, 5.0), Tick("BTC", 2_000, 7.0), Tick("BTC", 3_000, 4.0)]
    updates = ohlc_by_minute(ticks)
    assert [u.value["tick_count"] for u in updates] == [1, 2, 3]
    assert final_values(updates)[("BTC", 0)] == {
        "code": "BTC",
        "window_start_ms": 0,
        "window_end_ms": 60_000,
        "open": 5.0,
        "high": 7.0,
        "low": 4.0,
        "close": 4.0,
        "tick_count": 3,
    }


def test_moving_average_updates_each_window_a_tick_falls_in() -> None:
    updates = moving_average_60s([Tick("ETH", 45_000, 2.0), Tick("ETH", 50_000, 4.0)])
    assert [(u.value["window_start_ms"], u.value["moving_average"]) for u in updates] == [
        (0, 2.0),
        (30_000, 2.0),
        (0, 3.0),
        (30_000, 3.0),
    ]
