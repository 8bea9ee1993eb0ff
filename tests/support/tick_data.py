"""Known ticks, history points and ksqlDB results for the ClickHouse tests and benchmark.

Every message is built from the topic's example in contracts/ (<topic>.example.json), so a
change of contract changes what the tests send. Prices follow a seeded geometric random walk:
reproducible, never zero, with realistic day-to-day moves so that indicators (RSI, MACD,
drawdown) take varied values.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from producers.clock import DAY_MS, HOUR_MS, day_start_ms, epoch_ms
from provisioning.contracts import example

NOON_MS = 12 * HOUR_MS  # 12:00 UTC, the daily close, after the start of a day


@dataclass(frozen=True)
class Tick:
    """One price observation of a coin (a live tick or a history point)."""

    code: str
    timestamp_ms: int
    rate: float
    volume: float | None = None
    cap: float | None = None


def recent_morning_ms() -> int:
    """A moment of the last 24 h at or before 12:00 UTC of its day (so it makes a daily close)."""
    moment = epoch_ms(datetime.now(tz=UTC)) - 60_000
    if moment % DAY_MS > NOON_MS:
        moment = moment - moment % DAY_MS + NOON_MS - 60_000
    return moment


def random_walk(
    start: float, steps: int, daily_volatility: float, rng: random.Random
) -> list[float]:
    """A geometric random walk of ``steps`` prices starting at ``start``."""
    prices = [start]
    for _ in range(steps - 1):
        prices.append(prices[-1] * math.exp(rng.gauss(0.0, daily_volatility)))
    return prices


def daily_history(
    code: str,
    days: Sequence[date],
    *,
    start_price: float,
    seed: int,
    extra_hours: Sequence[float] = (0.0, 18.5),
) -> list[Tick]:
    """History points for each day: one at exactly 12:00 UTC plus points at ``extra_hours``.

    The extra points (e.g. 00:00 and 18:30) must not change the daily close, which is the last
    point at or before 12:00 UTC.
    """
    rng = random.Random(seed)
    noon_prices = random_walk(start_price, len(days), 0.03, rng)
    ticks: list[Tick] = []
    for day, price in zip(days, noon_prices, strict=True):
        base = day_start_ms(day)
        ticks.append(Tick(code, base + NOON_MS, price, volume=price * 1e6, cap=price * 1e9))
        for hours in extra_hours:
            moved = price * math.exp(rng.gauss(0.0, 0.01))
            ticks.append(
                Tick(code, base + int(hours * 3_600_000), moved, volume=moved * 1e6, cap=None)
            )
    return ticks


def live_ticks(
    code: str, *, start_ms: int, count: int, spacing_ms: int, start_price: float, seed: int
) -> list[Tick]:
    """``count`` live ticks every ``spacing_ms`` from ``start_ms``."""
    rng = random.Random(seed)
    prices = random_walk(start_price, count, 0.001, rng)
    return [
        Tick(code, start_ms + index * spacing_ms, price, volume=1e9 + index, cap=price * 1e9)
        for index, price in enumerate(prices)
    ]


def _tick_message(topic: str, tick: Tick, **fields: Any) -> dict[str, Any]:
    """The contract example of ``topic`` carrying ``tick``, then ``fields``."""
    message = example(topic)
    carried = {"code": tick.code, "timestamp_ms": tick.timestamp_ms, "rate": tick.rate}
    message.update({**carried, "volume": tick.volume, "cap": tick.cap, **fields})
    return message


def current_full_message(tick: Tick, **overrides: Any) -> dict[str, Any]:
    """A coins_current_full message for ``tick`` (meta fields from the contract example)."""
    fields = {"name": f"{tick.code} coin", "symbol": tick.code[:1], **overrides}
    return _tick_message("coins_current_full", tick, **fields)


def history_message(tick: Tick, **overrides: Any) -> dict[str, Any]:
    return _tick_message("coins_historical", tick, **overrides)


def ohlc_minute_message(code: str, window_start_ms: int, prices: Sequence[float]) -> dict[str, Any]:
    """What ksqlDB emits for a 1-minute window after seeing ``prices`` in order."""
    return {
        "code": code,
        "window_start_ms": window_start_ms,
        "window_end_ms": window_start_ms + 60_000,
        "open": prices[0],
        "high": max(prices),
        "low": min(prices),
        "close": prices[-1],
        "tick_count": len(prices),
    }


def moving_average_message(
    code: str, window_start_ms: int, prices: Sequence[float]
) -> dict[str, Any]:
    return {
        "code": code,
        "window_start_ms": window_start_ms,
        "window_end_ms": window_start_ms + 60_000,
        "moving_average": sum(prices) / len(prices),
        "tick_count": len(prices),
    }


def as_json(messages: Iterable[dict[str, Any]]) -> list[str]:
    return [json.dumps(message) for message in messages]


def days_ending(last_day: date, count: int) -> list[date]:
    """``count`` consecutive days ending with ``last_day``."""
    return [last_day - timedelta(days=count - 1 - offset) for offset in range(count)]


@dataclass(frozen=True)
class Scenario:
    """A known data set for the golden tests: history, live ticks and ksqlDB updates."""

    history: list[Tick]
    live: list[Tick]
    missing_day: tuple[str, date]


def golden_scenario(now: datetime, *, history_days: int = 400) -> Scenario:
    """History for BTC, ETH and AAVE up to yesterday (ETH misses one day 40 days ago), live
    ticks every 5 minutes for BTC and ETH from two days ago until ``now``, and one single
    live tick for SOL."""
    today = now.astimezone(UTC).date()
    days = days_ending(today - timedelta(days=1), history_days)
    missing_day = today - timedelta(days=40)
    history: list[Tick] = []
    for seed, (code, price) in enumerate((("BTC", 42_000.0), ("ETH", 2_300.0), ("AAVE", 95.0))):
        coin_days = [day for day in days if not (code == "ETH" and day == missing_day)]
        history.extend(daily_history(code, coin_days, start_price=price, seed=seed))
    start_ms = day_start_ms(today - timedelta(days=2)) + 180_000
    spacing_ms = 300_000
    count = max(1, (epoch_ms(now) - 60_000 - start_ms) // spacing_ms)
    live: list[Tick] = []
    last_close = {code: [t for t in history if t.code == code][-1].rate for code in ("BTC", "ETH")}
    for seed, code in enumerate(("BTC", "ETH"), start=10):
        live.extend(
            live_ticks(
                code,
                start_ms=start_ms,
                count=count,
                spacing_ms=spacing_ms,
                start_price=last_close[code],
                seed=seed,
            )
        )
    live.append(Tick("SOL", epoch_ms(now) - 120_000, 187.25, volume=None, cap=None))
    return Scenario(history=history, live=live, missing_day=("ETH", missing_day))


def feed_scenario(kafka_feeder: Any, scenario: Scenario, *, seed: int = 7) -> None:
    """Send history and live messages in a shuffled order, in a few batches."""
    rng = random.Random(seed)
    history = as_json(history_message(tick) for tick in scenario.history)
    live = as_json(current_full_message(tick) for tick in scenario.live)
    for table, values in (("kafka_coins_historical", history), ("kafka_coins_current_full", live)):
        rng.shuffle(values)
        batch = max(1, len(values) // 3 + 1)
        for start in range(0, len(values), batch):
            kafka_feeder.insert_values(table, values[start : start + batch])


def feed_ksql(kafka_feeder: Any) -> None:
    """Five updates of one ksqlDB 1-minute window (OHLC and moving average), as emitted."""
    start = epoch_ms(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
    prices = [100.0, 101.5, 99.25, 100.75, 102.0]
    ohlc = [ohlc_minute_message("BTC", start, prices[: n + 1]) for n in range(5)]
    average = [moving_average_message("BTC", start, prices[: n + 1]) for n in range(5)]
    kafka_feeder.insert_values("kafka_coins_ohlc_minute", as_json(ohlc))
    kafka_feeder.insert_values("kafka_coins_moving_average_60s", as_json(average))


def feed_every_view(kafka_feeder: Any, now: datetime) -> Scenario:
    """Rows behind every view: the golden scenario ending ``now``, the ksqlDB window's updates
    and one unreadable live message (for the error views)."""
    scenario = golden_scenario(now)
    feed_scenario(kafka_feeder, scenario)
    feed_ksql(kafka_feeder)
    kafka_feeder.insert_values("kafka_coins_current_full", ["{not json"])
    return scenario


# The golden data set: a fixed afternoon, so every run sees the same data on whichever side of
# midnight it runs. Views that window on the query's now() need data that ends now instead:
# ``golden_scenario(datetime.now(tz=UTC))`` in the test itself.
GOLDEN_NOW = datetime(2025, 6, 15, 15, 30, tzinfo=UTC)
GOLDEN = golden_scenario(GOLDEN_NOW)
