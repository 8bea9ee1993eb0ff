"""What the ksqlDB tables of ``ksqldb/`` emit, computed in plain Python for contract tests.

ksqlDB cannot run here, so the tests need its output some other way. This module follows the
semantics of the statements: windows aligned to the epoch (Kafka Streams ``TimeWindows``),
``EMIT CHANGES`` with one update per input record per window (what ksqlDB writes with its record
cache off; with the cache on it writes a subset of these updates, the last one always included),
``EARLIEST_BY_OFFSET``/``LATEST_BY_OFFSET`` by arrival order, ``AVG`` as running sum / count.
Values are JSON objects with the columns in SELECT order, as ksqlDB's JSON serializer writes them.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.support.tick_data import Tick

MINUTE_MS = 60_000
HOP_SIZE_MS = 60_000
HOP_ADVANCE_MS = 30_000


@dataclass(frozen=True)
class Update:
    """One message ksqlDB writes: the windowed key (never read downstream) and the JSON value."""

    key: bytes
    value: dict[str, Any]

    @property
    def json(self) -> str:
        return json.dumps(self.value)


def window_starts(timestamp_ms: int, size_ms: int, advance_ms: int) -> list[int]:
    """Starts of every window [start, start + size) holding the timestamp, oldest first."""
    latest = timestamp_ms - timestamp_ms % advance_ms
    starts = []
    start = latest
    while start > timestamp_ms - size_ms and start >= 0:
        starts.append(start)
        start -= advance_ms
    return sorted(starts)


def windowed_key(code: str, window_start_ms: int) -> bytes:
    """ksqlDB's windowed KAFKA key: the key bytes followed by the 8-byte window start."""
    return code.encode() + struct.pack(">q", window_start_ms)


def ohlc_by_minute(ticks: Iterable[Tick]) -> list[Update]:
    """Updates of ``ohlc_by_minute`` (1-minute tumbling) for ticks in offset order."""
    state: dict[tuple[str, int], dict[str, Any]] = {}
    updates: list[Update] = []
    for tick in ticks:
        for start in window_starts(tick.timestamp_ms, MINUTE_MS, MINUTE_MS):
            current = state.get((tick.code, start))
            if current is None:
                current = {
                    "code": tick.code,
                    "window_start_ms": start,
                    "window_end_ms": start + MINUTE_MS,
                    "open": tick.rate,
                    "high": tick.rate,
                    "low": tick.rate,
                    "close": tick.rate,
                    "tick_count": 0,
                }
            current = {
                **current,
                "high": max(current["high"], tick.rate),
                "low": min(current["low"], tick.rate),
                "close": tick.rate,
                "tick_count": current["tick_count"] + 1,
            }
            state[(tick.code, start)] = current
            updates.append(Update(windowed_key(tick.code, start), dict(current)))
    return updates


def moving_average_60s(ticks: Iterable[Tick]) -> list[Update]:
    """Updates of ``moving_average_60s`` (60 s hopping by 30 s) for ticks in offset order."""
    sums: dict[tuple[str, int], tuple[float, int]] = {}
    updates: list[Update] = []
    for tick in ticks:
        for start in window_starts(tick.timestamp_ms, HOP_SIZE_MS, HOP_ADVANCE_MS):
            total, count = sums.get((tick.code, start), (0.0, 0))
            total, count = total + tick.rate, count + 1
            sums[(tick.code, start)] = (total, count)
            value = {
                "code": tick.code,
                "window_start_ms": start,
                "window_end_ms": start + HOP_SIZE_MS,
                "moving_average": total / count,
                "tick_count": count,
            }
            updates.append(Update(windowed_key(tick.code, start), value))
    return updates


def final_values(updates: Iterable[Update]) -> dict[tuple[str, int], dict[str, Any]]:
    """The last update of every (code, window start): what one row per window must hold."""
    final: dict[tuple[str, int], dict[str, Any]] = {}
    for update in updates:
        final[(update.value["code"], update.value["window_start_ms"])] = update.value
    return final
