"""Plain-Python definitions of every figure the ClickHouse views compute.

Written from the definitions in docs/clickhouse.md, independently of the SQL (loops and the
textbook recursions, not the closed forms the views use), so the golden tests compare two
implementations of one definition.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from producers.clock import DAY_MS, utc_day
from tests.support.tick_data import NOON_MS, Tick


@dataclass(frozen=True)
class Ohlc:
    open: float
    high: float
    low: float
    close: float
    tick_count: int


def ohlc_by_bucket(ticks: Iterable[Tick], bucket_ms: int) -> dict[tuple[str, int], Ohlc]:
    """OHLC per (code, bucket start ms); duplicated ticks (same code and time) count once.

    The daily rollup counts distinct seconds with a tick; the generated test ticks are seconds
    apart, so counting distinct timestamps here is the same figure."""
    unique = {(tick.code, tick.timestamp_ms): tick for tick in ticks}
    buckets: dict[tuple[str, int], list[Tick]] = {}
    for tick in unique.values():
        start = tick.timestamp_ms - tick.timestamp_ms % bucket_ms
        buckets.setdefault((tick.code, start), []).append(tick)
    result = {}
    for key, members in buckets.items():
        ordered = sorted(members, key=lambda tick: tick.timestamp_ms)
        rates = [tick.rate for tick in ordered]
        result[key] = Ohlc(rates[0], max(rates), min(rates), rates[-1], len(ordered))
    return result


def noon_closes(history: Iterable[Tick], live: Iterable[Tick]) -> dict[str, dict[date, float]]:
    """Daily close per coin: rate of the last tick at or before 12:00:00.000 UTC of the day.

    History and live ticks are one series; at the very same timestamp the history point wins.
    """
    best: dict[tuple[str, date], tuple[int, int, float]] = {}
    for priority, ticks in ((1, history), (0, live)):
        for tick in ticks:
            if tick.timestamp_ms % DAY_MS > NOON_MS:
                continue
            key = (tick.code, utc_day(tick.timestamp_ms))
            candidate = (tick.timestamp_ms, priority, tick.rate)
            if key not in best or candidate[:2] > best[key][:2]:
                best[key] = candidate
    closes: dict[str, dict[date, float]] = {}
    for (code, day), (_, _, rate) in best.items():
        closes.setdefault(code, {})[day] = rate
    return closes


def calendar_sma(closes: dict[date, float], day: date, length: int) -> tuple[float | None, int]:
    """Mean of the closes of the ``length`` calendar days ending ``day``; None unless all exist."""
    window = [day - timedelta(days=offset) for offset in range(length)]
    present = [closes[d] for d in window if d in closes]
    return (sum(present) / length if len(present) == length else None), len(present)


def ema_sma_seeded(values: Sequence[float], length: int, alpha: float) -> list[float | None]:
    """Classic EMA: None for the first length-1 values, SMA of the first ``length`` as seed,
    then E(k) = alpha * x(k) + (1 - alpha) * E(k-1)."""
    result: list[float | None] = [None] * len(values)
    if len(values) < length:
        return result
    current = sum(values[:length]) / length
    result[length - 1] = current
    for index in range(length, len(values)):
        current = alpha * values[index] + (1 - alpha) * current
        result[index] = current
    return result


@dataclass(frozen=True)
class Macd:
    ema_12: list[float | None]
    ema_26: list[float | None]
    macd: list[float | None]
    signal: list[float | None]


def macd(closes: Sequence[float]) -> Macd:
    """MACD (12, 26, 9) over the sequence of available daily closes."""
    ema_12 = ema_sma_seeded(closes, 12, 2 / 13)
    ema_26 = ema_sma_seeded(closes, 26, 2 / 27)
    line: list[float | None] = [
        None if slow is None or fast is None else fast - slow
        for fast, slow in zip(ema_12, ema_26, strict=True)
    ]
    signal: list[float | None] = [None] * len(closes)
    defined = [value for value in line if value is not None]
    smoothed = ema_sma_seeded(defined, 9, 2 / 10)
    first = len(line) - len(defined)
    for offset, value in enumerate(smoothed):
        signal[first + offset] = value
    return Macd(ema_12, ema_26, line, signal)


def rsi_wilder(closes: Sequence[float], length: int = 14) -> list[float | None]:
    """RSI with Wilder's smoothing: averages seeded with the mean of the first ``length``
    gains/losses, then A(k) = (A(k-1) * (length-1) + x(k)) / length."""
    result: list[float | None] = [None] * len(closes)
    if len(closes) <= length:
        return result
    gains = [max(closes[i] - closes[i - 1], 0.0) for i in range(1, len(closes))]
    losses = [max(closes[i - 1] - closes[i], 0.0) for i in range(1, len(closes))]
    average_gain = sum(gains[:length]) / length
    average_loss = sum(losses[:length]) / length
    for index in range(length, len(closes)):
        if index > length:
            average_gain = (average_gain * (length - 1) + gains[index - 1]) / length
            average_loss = (average_loss * (length - 1) + losses[index - 1]) / length
        if average_loss == 0:
            result[index] = 50.0 if average_gain == 0 else 100.0
        else:
            result[index] = 100 - 100 / (1 + average_gain / average_loss)
    return result


def bollinger(
    closes: dict[date, float], day: date, length: int = 20, width: float = 2.0
) -> tuple[float, float, float] | None:
    """(middle, upper, lower) over ``length`` calendar days, population standard deviation."""
    window = [closes.get(day - timedelta(days=offset)) for offset in range(length)]
    if any(value is None for value in window):
        return None
    values = [value for value in window if value is not None]
    middle = sum(values) / length
    deviation = statistics.pstdev(values)
    return middle, middle + width * deviation, middle - width * deviation


def log_return(closes: dict[date, float], day: date) -> float | None:
    """ln(close(day) / close(day - 1)); None unless both calendar days have a close."""
    previous = closes.get(day - timedelta(days=1))
    current = closes.get(day)
    return None if previous is None or current is None else math.log(current / previous)


def volatility_30d_pct(closes: dict[date, float], day: date) -> float | None:
    """Sample std of the 30 daily log returns ending ``day``, x sqrt(365), in percent."""
    returns = [log_return(closes, day - timedelta(days=offset)) for offset in range(30)]
    values = [value for value in returns if value is not None]
    if len(values) < 30:
        return None
    return statistics.stdev(values) * math.sqrt(365) * 100


def drawdowns_pct(closes: dict[date, float]) -> dict[date, tuple[float, float, float]]:
    """Per day: (running high, drawdown from it in %, worst drawdown so far in %)."""
    result: dict[date, tuple[float, float, float]] = {}
    running_high = -math.inf
    worst = 0.0
    for day in sorted(closes):
        running_high = max(running_high, closes[day])
        drawdown = (closes[day] / running_high - 1) * 100
        worst = min(worst, drawdown)
        result[day] = (running_high, drawdown, worst)
    return result


def period_returns_pct(closes: dict[date, float]) -> dict[str, float | None]:
    """Returns of the latest close versus exact reference days (None when a day is missing)."""
    latest = max(closes)
    first = min(closes)

    def versus(reference: date) -> float | None:
        base = closes.get(reference)
        return None if base is None else (closes[latest] / base - 1) * 100

    return {
        "1d": versus(latest - timedelta(days=1)),
        "7d": versus(latest - timedelta(days=7)),
        "30d": versus(latest - timedelta(days=30)),
        "90d": versus(latest - timedelta(days=90)),
        "ytd": versus(date(latest.year, 1, 1) - timedelta(days=1)),
        "since_first": versus(first),
    }
