"""The plain-Python reference of the ClickHouse views, checked on hand-computed examples."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from producers.clock import DAY_MS, day_start_ms
from tests.support import reference_indicators as ref
from tests.support.tick_data import NOON_MS, Tick

DAY = date(2025, 3, 1)


def series(values: list[float], start: date = DAY) -> dict[date, float]:
    return {start + timedelta(days=i): value for i, value in enumerate(values)}


def test_ema_is_seeded_with_the_sma_then_recursive() -> None:
    assert ref.ema_sma_seeded([1, 2, 3, 4, 5], 3, 0.5) == [None, None, 2.0, 3.0, 4.0]
    assert ref.ema_sma_seeded([1, 2], 3, 0.5) == [None, None]


def test_rsi_extremes_and_one_hand_computed_value() -> None:
    assert ref.rsi_wilder([float(i) for i in range(20)])[14:] == [100.0] * 6
    assert ref.rsi_wilder([5.0] * 20)[14:] == [50.0] * 6
    up_down = [10.0, 11.0] * 8  # 15 changes: +1 -1 ... ; first 14 average 0.5 and 0.5
    assert ref.rsi_wilder(up_down, 14)[14] == pytest.approx(50.0)
    assert ref.rsi_wilder(up_down, 14)[15] == pytest.approx(100 - 100 / (1 + (6.5 + 1) / 6.5))


def test_calendar_sma_counts_days_not_rows() -> None:
    closes = series([1.0, 2.0, 3.0, 4.0])
    del closes[DAY + timedelta(days=1)]
    assert ref.calendar_sma(closes, DAY + timedelta(days=3), 3) == (None, 2)
    assert ref.calendar_sma(series([1.0, 2.0, 3.0]), DAY + timedelta(days=2), 3) == (2.0, 3)


def test_bollinger_uses_the_population_deviation() -> None:
    closes = series([1.0, 3.0] * 10)
    middle, upper, lower = ref.bollinger(closes, DAY + timedelta(days=19)) or (0, 0, 0)
    assert (middle, upper, lower) == (2.0, 4.0, 0.0)


def test_volatility_needs_thirty_consecutive_returns() -> None:
    closes = series([100 * math.exp(0.01 * (i % 2)) for i in range(31)])
    last = DAY + timedelta(days=30)
    expected = 0.01 * math.sqrt(30 / 29 * 0.25) * 2 * math.sqrt(365) * 100
    assert ref.volatility_30d_pct(closes, last) == pytest.approx(expected)
    assert ref.volatility_30d_pct(closes, last - timedelta(days=1)) is None


def test_drawdowns_follow_the_running_high() -> None:
    result = ref.drawdowns_pct(series([100.0, 120.0, 90.0, 130.0]))
    assert [v[1] for v in result.values()] == [0.0, 0.0, -25.0, 0.0]
    assert [v[2] for v in result.values()] == [0.0, 0.0, -25.0, -25.0]


def test_noon_close_is_the_last_tick_at_or_before_noon_and_history_wins_ties() -> None:
    base = day_start_ms(DAY)
    history = [Tick("BTC", base + NOON_MS, 10.0)]
    live = [
        Tick("BTC", base + NOON_MS, 11.0),
        Tick("BTC", base + NOON_MS + 1, 12.0),
        Tick("ETH", base + NOON_MS - 1, 5.0),
        Tick("ETH", base + DAY_MS - 1, 6.0),
    ]
    assert ref.noon_closes(history, live) == {"BTC": {DAY: 10.0}, "ETH": {DAY: 5.0}}


def test_period_returns_need_the_exact_reference_day() -> None:
    closes = series([100.0] * 8 + [110.0])
    returns = ref.period_returns_pct(closes)
    assert returns["1d"] == pytest.approx(10.0)
    assert returns["7d"] == pytest.approx(10.0)
    assert returns["30d"] is None
    assert returns["since_first"] == pytest.approx(10.0)
