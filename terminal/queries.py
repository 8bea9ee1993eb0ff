"""Everything ``coins top`` reads, as SQL over the rollups and snapshots (never raw ticks).

One refresh runs the overview, the sparklines and the health queries, plus the detail queries
of the selected coin. Every query reads a small table: the minute and day rollups that the
materialized views of ``clickhouse/init`` maintain, the history points, the indicator snapshot
tables (refreshed every minute by ClickHouse) and the error table. ``make bench`` times each
one against the same result computed from ``crypto.coins_ticks``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# The newest minute any coin has, from the day rollup (a few rows per coin and day).
_NEWEST_MINUTE = "toStartOfMinute((SELECT max(last_tick_at) FROM crypto.rollup_ohlc_day))"

# Per coin: latest price, volume and tick time from the day rollup; the price 1 h, 24 h and
# 7 d before the newest minute: the latest candidate at or before that instant, from the minute
# rollup (a 15-minute window) or, for 24 h and 7 d, the backfilled history (within a day).
OVERVIEW_SQL = f"""
WITH
    {_NEWEST_MINUTE} AS newest,
    latest AS
    (
        SELECT
            code,
            argMax(close, day) AS price,
            argMax(volume_24h, day) AS volume_24h,
            max(last_tick_at) AS last_tick_at
        FROM
        (
            SELECT
                code,
                day,
                argMaxMerge(close) AS close,
                argMaxMerge(volume_24h) AS volume_24h,
                max(last_tick_at) AS last_tick_at
            FROM crypto.rollup_ohlc_day
            GROUP BY code, day
        )
        GROUP BY code
    ),
    past AS
    (
        SELECT code, toDateTime64(minute, 3, 'UTC') AS at, argMaxMerge(close) AS price
        FROM crypto.rollup_ohlc_minute
        WHERE minute BETWEEN newest - INTERVAL 75 MINUTE AND newest - INTERVAL 60 MINUTE
           OR minute BETWEEN newest - INTERVAL 1455 MINUTE AND newest - INTERVAL 1440 MINUTE
           OR minute BETWEEN newest - INTERVAL 10095 MINUTE AND newest - INTERVAL 10080 MINUTE
        GROUP BY code, minute
        UNION ALL
        SELECT code, ts AS at, rate AS price
        FROM crypto.coins_history FINAL
        WHERE ts BETWEEN newest - INTERVAL 8 DAY AND newest - INTERVAL 1 DAY
    )
SELECT
    latest.code AS code,
    latest.price AS price,
    latest.volume_24h AS volume_24h,
    latest.last_tick_at AS last_tick_at,
    (latest.price / nullIf(argMaxIf(past.price, past.at,
        past.at BETWEEN newest - INTERVAL 75 MINUTE AND newest - INTERVAL 60 MINUTE), 0) - 1)
        * 100 AS change_1h_pct,
    (latest.price / nullIf(argMaxIf(past.price, past.at,
        past.at BETWEEN newest - INTERVAL 48 HOUR AND newest - INTERVAL 24 HOUR), 0) - 1)
        * 100 AS change_24h_pct,
    (latest.price / nullIf(argMaxIf(past.price, past.at,
        past.at BETWEEN newest - INTERVAL 8 DAY AND newest - INTERVAL 7 DAY), 0) - 1)
        * 100 AS change_7d_pct
FROM latest
LEFT JOIN past ON past.code = latest.code
GROUP BY code, price, volume_24h, last_tick_at
ORDER BY volume_24h DESC NULLS LAST, code
"""

# Each coin's 24 h sparkline (the last close of every quarter hour), from the snapshot of
# crypto.coin_sparkline_24h (the minute rollup's quarter-hour closes, refreshed every minute):
# ten short rows instead of merging a day of minute states on every refresh.
SPARKLINE_SQL = """
SELECT code, closes FROM crypto.coin_sparkline_24h_snapshot
"""

# The project's own minute view (a merge of rollup_ohlc_minute), one coin, a primary-key range
# ending at the coin's newest tick (the overview's ``last_tick_at``, so a stream that stopped
# still shows its last hours).
MINUTES_SQL = """
SELECT minute, open, high, low, close, tick_count
FROM crypto.ohlc_minute_live
WHERE code = {code:String}
  AND minute >= toStartOfMinute({until:DateTime64(3, 'UTC')}) - INTERVAL {hours:UInt32} HOUR
ORDER BY minute
"""

DAILY_SQL = """
SELECT
    averages.day AS day,
    averages.close AS close,
    averages.sma_10 AS sma_10,
    averages.sma_30 AS sma_30,
    averages.sma_50 AS sma_50,
    averages.sma_200 AS sma_200,
    rsi.rsi_14 AS rsi_14
FROM
(
    SELECT day, close, sma_10, sma_30, sma_50, sma_200
    FROM crypto.moving_averages_daily_snapshot
    WHERE code = {code:String}
    ORDER BY day DESC
    LIMIT {days:UInt32}
) AS averages
LEFT JOIN
(
    SELECT day, rsi_14 FROM crypto.rsi_daily_snapshot
    WHERE code = {code:String}
    ORDER BY day DESC
    LIMIT {days:UInt32}
) AS rsi ON rsi.day = averages.day
ORDER BY day
"""

# The store's clock (the newest live tick's age is measured on it against the overview's
# newest tick per coin, which the refresh has just read), the newest history point and ksqlDB
# window, and rejected messages of the last hour; ages in seconds from ClickHouse's clock.
HEALTH_SQL = """
SELECT
    now64(3, 'UTC') AS store_now,
    (SELECT if(count() = 0, NULL, dateDiff('millisecond', max(ingested_at), now64(3, 'UTC')) / 1000)
     FROM crypto.coins_history) AS history_age_seconds,
    (SELECT if(count() = 0, NULL, max(ts)) FROM crypto.coins_history) AS history_until,
    (SELECT if(count() = 0, NULL,
                dateDiff('millisecond', max(window_start), now64(3, 'UTC')) / 1000)
     FROM crypto.ksql_ohlc_minute) AS ksql_age_seconds,
    (SELECT count() FROM crypto.ingest_errors
     WHERE received_at >= now64(3, 'UTC') - INTERVAL 1 HOUR) AS errors_last_hour
"""

# Whether the project's tables exist at all (an engine where clickhouse/init never ran).
SCHEMA_SQL = """
SELECT count() FROM system.tables
WHERE database = 'crypto' AND name IN ('rollup_ohlc_day', 'rollup_ohlc_minute')
"""


@dataclass(frozen=True)
class CoinRow:
    code: str
    price: float
    volume_24h: float | None
    last_tick_at: dt.datetime
    change_1h_pct: float | None
    change_24h_pct: float | None
    change_7d_pct: float | None
    sparkline: tuple[float, ...] = ()


@dataclass(frozen=True)
class MinuteBar:
    minute: dt.datetime
    open: float
    high: float
    low: float
    close: float
    ticks: int


@dataclass(frozen=True)
class DailyRow:
    day: dt.date
    close: float
    sma_10: float | None
    sma_30: float | None
    sma_50: float | None
    sma_200: float | None
    rsi_14: float | None


@dataclass(frozen=True)
class Health:
    live_age_seconds: float | None
    history_age_seconds: float | None
    history_until: dt.datetime | None
    ksql_age_seconds: float | None
    errors_last_hour: int


@dataclass(frozen=True)
class CoinDetail:
    code: str
    minutes: tuple[MinuteBar, ...]
    daily: tuple[DailyRow, ...]


@dataclass(frozen=True)
class Snapshot:
    """One refresh of the dashboard; ``schema_ready`` is False where clickhouse/init never ran."""

    schema_ready: bool
    coins: tuple[CoinRow, ...] = ()
    health: Health | None = None
    detail: CoinDetail | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.coins


QueryFn = Callable[[str, dict[str, Any] | None], Sequence[Sequence[Any]]]


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if number != number or number in (float("inf"), float("-inf")) else number


def _utc(value: Any) -> dt.datetime:
    moment: dt.datetime = value
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class DashboardQueries:
    """Runs the dashboard's queries through ``query(sql, parameters) -> rows``."""

    def __init__(self, query: QueryFn, *, detail_hours: int = 3, detail_days: int = 60) -> None:
        self._query = query
        self.detail_hours = detail_hours
        self.detail_days = detail_days

    def _timed(
        self, timings: dict[str, float], name: str, sql: str, parameters: dict[str, Any] | None
    ) -> Sequence[Sequence[Any]]:
        started = time.perf_counter()
        rows = self._query(sql, parameters)
        timings[name] = (time.perf_counter() - started) * 1000
        return rows

    def load(self, selected: str | None = None) -> Snapshot:
        timings: dict[str, float] = {}
        if not self._timed(timings, "schema", SCHEMA_SQL, None)[0][0] >= 2:
            return Snapshot(schema_ready=False, timings_ms=timings)
        sparks = {
            str(code): tuple(float(c) for c in closes)
            for code, closes in self._timed(timings, "sparklines", SPARKLINE_SQL, None)
        }
        coins = tuple(
            CoinRow(
                code=str(code),
                price=float(price),
                volume_24h=_finite(volume),
                last_tick_at=_utc(last_tick_at),
                change_1h_pct=_finite(change_1h),
                change_24h_pct=_finite(change_24h),
                change_7d_pct=_finite(change_7d),
                sparkline=sparks.get(str(code), ()),
            )
            for code, price, volume, last_tick_at, change_1h, change_24h, change_7d in self._timed(
                timings, "overview", OVERVIEW_SQL, None
            )
        )
        (health_row,) = self._timed(timings, "health", HEALTH_SQL, None)
        store_now, history_age, history_until, ksql_age, errors = health_row
        newest = max((coin.last_tick_at for coin in coins), default=None)
        health = Health(
            live_age_seconds=(
                None if newest is None else (_utc(store_now) - newest).total_seconds()
            ),
            history_age_seconds=_finite(history_age),
            history_until=None if history_until is None else _utc(history_until),
            ksql_age_seconds=_finite(ksql_age),
            errors_last_hour=int(errors),
        )
        detail = None
        if coins:
            coin = next((coin for coin in coins if coin.code == selected), coins[0])
            detail = self.detail(coin, timings)
        return Snapshot(True, coins, health, detail, timings)

    def detail(self, coin: CoinRow, timings: dict[str, float] | None = None) -> CoinDetail:
        """The coin's minute OHLC up to its newest tick, and its daily closes with indicators."""
        timings = {} if timings is None else timings
        code = coin.code
        parameters = {"code": code, "until": coin.last_tick_at, "hours": self.detail_hours}
        minutes = tuple(
            MinuteBar(_utc(minute), float(o), float(h), float(low), float(c), int(ticks))
            for minute, o, h, low, c, ticks in self._timed(
                timings, "minute OHLC", MINUTES_SQL, parameters
            )
        )
        daily = tuple(
            DailyRow(day, float(close), *(_finite(v) for v in rest))
            for day, close, *rest in self._timed(
                timings, "daily + SMA + RSI", DAILY_SQL, {"code": code, "days": self.detail_days}
            )
        )
        return CoinDetail(code, minutes, daily)
