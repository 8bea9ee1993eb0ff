"""What ksqlDB writes to its output topics: the value of each windowed table's changelog.

No Python code produces these messages; ksqlDB does, from ``ksqldb/020_ohlc_by_minute.sql`` and
``ksqldb/030_moving_average_60s.sql``. These models state that output so it has a JSON Schema
like every other topic (``make contracts``), and tests/unit/test_contracts.py checks them
against the SELECT lists of those files. From the upstream sources (github.com/confluentinc/ksql):

- ``VALUE_FORMAT = 'JSON'`` writes the value columns as one JSON object, names as declared
  (backtick-quoted, so lower case); the windowed key (code + window start) stays in the binary
  Kafka key (docs/reference/serialization.md).
- ``WINDOWSTART``/``WINDOWEND`` are BIGINT epoch milliseconds
  (docs/concepts/time-and-windows-in-ksqldb-queries.md).
- ``COUNT(*)`` is a BIGINT, ``AVG`` a DOUBLE (docs/developer-guide/ksqldb-reference/
  aggregate-functions.md; ksqldb-engine/.../udaf/average/AverageUdaf.java); ``MIN``, ``MAX``,
  ``EARLIEST_BY_OFFSET`` and ``LATEST_BY_OFFSET`` keep the DOUBLE of ``rate``.
- None of them is null: both queries keep only ``WHERE rate IS NOT NULL``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from producers.models import WireModel

__all__ = ["MovingAverageMessage", "OhlcMinuteMessage"]

# COUNT(*) of a window: a BIGINT, at least one tick (a window exists once a tick falls in it).
TickCount = Annotated[int, Field(ge=1)]


class OhlcMinuteMessage(WireModel):
    """Value of a ``coins_ohlc_minute`` message: one update of a coin's 1-minute tumbling
    window (``ksqldb/020_ohlc_by_minute.sql``); the last update of a window is its final OHLC."""

    code: str
    window_start_ms: int
    window_end_ms: int
    open: float
    high: float
    low: float
    close: float
    tick_count: TickCount


class MovingAverageMessage(WireModel):
    """Value of a ``coins_moving_average_60s`` message: one update of a coin's 60 s window
    hopping every 30 s (``ksqldb/030_moving_average_60s.sql``)."""

    code: str
    window_start_ms: int
    window_end_ms: int
    moving_average: float
    tick_count: TickCount
