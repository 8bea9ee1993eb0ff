"""Golden tests: known history and ticks through the Kafka tables, every view versus plain Python.

The data goes in as Kafka message values, through the broker into ClickHouse's real Kafka
engine, in a shuffled order and in several batches, so out-of-order arrival is part of every
golden test.
The expected figures come from tests/support/reference_indicators.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from producers.clock import DAY_MS, utc_day
from tests.support import reference_indicators as ref
from tests.support.clickhouse_loader import rows
from tests.support.tick_data import GOLDEN, GOLDEN_NOW, Tick, feed_scenario, golden_scenario

REL = 1e-9
# Only tick_change windows on the query's now(): its test builds its own data ending now.
NOW, SCENARIO = GOLDEN_NOW, GOLDEN
CLOSES = ref.noon_closes(SCENARIO.history, SCENARIO.live)


def close_enough(actual: float | None, expected: float | None) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    return actual == pytest.approx(expected, rel=REL, abs=1e-9)


def assert_series(actual: list[dict[str, Any]], column: str, expected: list[float | None]) -> None:
    assert len(actual) == len(expected)
    for row, value in zip(actual, expected, strict=True):
        assert close_enough(row[column], value), (
            column,
            row["code"],
            row["day"],
            row[column],
            value,
        )


@pytest.fixture
def loaded(clickhouse: Any, kafka_feeder: Any) -> Any:
    feed_scenario(kafka_feeder, SCENARIO)
    return clickhouse


def test_daily_close_is_the_last_tick_at_or_before_noon_for_history_and_live(loaded: Any) -> None:
    stored = rows(loaded, "SELECT code, day, close, close_source FROM crypto.daily_close")
    actual = {(row["code"], row["day"]): row["close"] for row in stored}
    expected = {
        (code, day): close for code, by_day in CLOSES.items() for day, close in by_day.items()
    }

    assert actual.keys() == expected.keys()
    for key, close in expected.items():
        assert actual[key] == close, key
    sources = {(row["code"], row["day"]): row["close_source"] for row in stored}
    today = NOW.date()
    # the 12:00:00 history point beats the 11:58 live tick; today only live ticks exist
    assert sources[("BTC", today - timedelta(days=1))] == "history"
    assert sources[("BTC", today)] == "live"
    missing_code, missing_day = SCENARIO.missing_day
    assert (missing_code, missing_day) not in actual


def test_moving_averages_use_calendar_days_and_never_fill_a_missing_day(loaded: Any) -> None:
    stored = rows(loaded, "SELECT * FROM crypto.moving_averages_daily ORDER BY code, day")
    assert len(stored) == sum(len(by_day) for by_day in CLOSES.values())
    for row in stored:
        closes = CLOSES[row["code"]]
        for length in (10, 30, 50, 200):
            value, present = ref.calendar_sma(closes, row["day"], length)
            assert row[f"days_in_sma_{length}"] == present
            assert close_enough(row[f"sma_{length}"], value), (row["code"], row["day"], length)
    code, missing = SCENARIO.missing_day
    after_gap = next(
        r for r in stored if r["code"] == code and r["day"] == missing + timedelta(days=1)
    )
    assert after_gap["sma_10"] is None
    assert after_gap["days_in_sma_10"] == 9


@pytest.mark.parametrize("code", ["BTC", "ETH", "AAVE"])
def test_ema_and_macd_match_the_classic_recursion(loaded: Any, code: str) -> None:
    stored = rows(loaded, f"SELECT * FROM crypto.ema_macd_daily WHERE code = '{code}' ORDER BY day")
    closes = [CLOSES[code][day] for day in sorted(CLOSES[code])]
    expected = ref.macd(closes)
    assert_series(stored, "ema_12", expected.ema_12)
    assert_series(stored, "ema_26", expected.ema_26)
    assert_series(stored, "macd", expected.macd)
    assert_series(stored, "macd_signal", expected.signal)
    histogram = [
        None if line is None or signal is None else line - signal
        for line, signal in zip(expected.macd, expected.signal, strict=True)
    ]
    assert_series(stored, "macd_histogram", histogram)
    assert stored[32]["macd_signal"] is None
    assert stored[33]["macd_signal"] is not None


@pytest.mark.parametrize("code", ["BTC", "ETH", "AAVE"])
def test_rsi_uses_wilders_smoothing(loaded: Any, code: str) -> None:
    stored = rows(loaded, f"SELECT * FROM crypto.rsi_daily WHERE code = '{code}' ORDER BY day")
    closes = [CLOSES[code][day] for day in sorted(CLOSES[code])]
    assert_series(stored, "rsi_14", ref.rsi_wilder(closes, 14))
    assert all(0 <= row["rsi_14"] <= 100 for row in stored[14:])


def test_bollinger_bands_over_twenty_calendar_days(loaded: Any) -> None:
    stored = rows(loaded, "SELECT * FROM crypto.bollinger_daily ORDER BY code, day")
    for row in stored:
        expected = ref.bollinger(CLOSES[row["code"]], row["day"])
        if expected is None:
            assert row["middle_20"] is None
            assert row["upper_20"] is None
            continue
        middle, upper, lower = expected
        assert close_enough(row["middle_20"], middle)
        assert close_enough(row["upper_20"], upper)
        assert close_enough(row["lower_20"], lower)


def test_risk_log_returns_volatility_and_drawdowns(loaded: Any) -> None:
    stored = rows(loaded, "SELECT * FROM crypto.risk_daily ORDER BY code, day")
    for code, closes in CLOSES.items():
        drawdowns = ref.drawdowns_pct(closes)
        for row in (r for r in stored if r["code"] == code):
            day = row["day"]
            assert close_enough(row["log_return"], ref.log_return(closes, day)), (code, day)
            assert close_enough(row["volatility_30d_pct"], ref.volatility_30d_pct(closes, day)), (
                code,
                day,
            )
            running_high, drawdown, worst = drawdowns[day]
            assert close_enough(row["running_high"], running_high)
            assert close_enough(row["drawdown_pct"], drawdown)
            assert close_enough(row["max_drawdown_pct"], worst)
    summary = {r["code"]: r for r in rows(loaded, "SELECT * FROM crypto.risk_summary")}
    for code, closes in CLOSES.items():
        latest = max(closes)
        running_high, drawdown, worst = ref.drawdowns_pct(closes)[latest]
        assert summary[code]["day"] == latest
        assert close_enough(summary[code]["current_drawdown_pct"], drawdown)
        assert close_enough(summary[code]["max_drawdown_pct"], worst)
        assert close_enough(
            summary[code]["volatility_30d_pct"], ref.volatility_30d_pct(closes, latest)
        )


def test_performance_returns_and_ranking(loaded: Any) -> None:
    stored = {r["code"]: r for r in rows(loaded, "SELECT * FROM crypto.performance_returns")}
    expected = {code: ref.period_returns_pct(closes) for code, closes in CLOSES.items()}
    assert stored.keys() == expected.keys()
    for code, periods in expected.items():
        for period, value in periods.items():
            assert close_enough(stored[code][f"return_{period}_pct"], value), (code, period)
    ranking = rows(loaded, "SELECT * FROM crypto.performance_ranking")
    for period in ("1d", "7d", "30d", "90d", "ytd", "since_first"):
        defined = {c: p[period] for c, p in expected.items() if p[period] is not None}
        best_first = sorted(defined, key=lambda c: -float(defined[c]))  # type: ignore[arg-type]
        by_code = {r["code"]: r for r in ranking if r["period"] == period}
        assert set(by_code) == set(defined)
        assert [by_code[c]["rank_best"] for c in best_first] == list(range(1, len(best_first) + 1))
        assert by_code[best_first[-1]]["rank_worst"] == 1


def test_change_by_day_and_latest(loaded: Any) -> None:
    stored = rows(loaded, "SELECT * FROM crypto.change_by_day")
    for row in stored:
        closes = CLOSES[row["code"]]
        for days, column in ((1, "change_1d_pct"), (7, "change_7d_pct")):
            base = closes.get(row["day"] - timedelta(days=days))
            expected = None if base is None else (closes[row["day"]] / base - 1) * 100
            assert close_enough(row[column], expected), (row["code"], row["day"], column)
    latest = {r["code"]: r for r in rows(loaded, "SELECT * FROM crypto.change_latest")}
    assert {code: r["day"] for code, r in latest.items()} == {c: max(v) for c, v in CLOSES.items()}


def test_live_ohlc_by_minute_and_day_from_the_rollups(loaded: Any) -> None:
    for view, bucket, key in (
        ("ohlc_minute_live", 60_000, "minute"),
        ("ohlc_daily_live", DAY_MS, "day"),
    ):
        expected = ref.ohlc_by_bucket(SCENARIO.live, bucket)
        stored = rows(loaded, f"SELECT * FROM crypto.{view}")
        assert len(stored) == len(expected)
        for row in stored:
            moment = row[key]
            if isinstance(moment, date) and not isinstance(moment, datetime):
                moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
            start_ms = int(moment.replace(tzinfo=UTC).timestamp() * 1000)
            want = expected[(row["code"], start_ms)]
            assert (row["open"], row["high"], row["low"], row["close"], row["tick_count"]) == (
                want.open,
                want.high,
                want.low,
                want.close,
                want.tick_count,
            ), (view, row)


def test_history_daily_close_volume_and_range(loaded: Any) -> None:
    stored = rows(loaded, "SELECT * FROM crypto.history_daily")
    by_day: dict[tuple[str, date], list[Tick]] = {}
    for tick in SCENARIO.history:
        by_day.setdefault((tick.code, utc_day(tick.timestamp_ms)), []).append(tick)
    assert len(stored) == len(by_day)
    for row in stored:
        ticks = by_day[(row["code"], row["day"])]
        noon = max(
            (t for t in ticks if t.timestamp_ms % DAY_MS <= 43_200_000),
            key=lambda t: t.timestamp_ms,
        )
        assert row["close"] == noon.rate
        assert row["volume_24h"] == noon.volume
        assert row["cap"] == noon.cap
        assert row["low"] == min(t.rate for t in ticks)
        assert row["high"] == max(t.rate for t in ticks)
        assert row["points"] == len(ticks)


def test_coin_overview_latest_tick_deltas_and_all_time_high(loaded: Any) -> None:
    overview = {r["code"]: r for r in rows(loaded, "SELECT * FROM crypto.coin_overview")}
    assert set(overview) == {"BTC", "ETH", "SOL"}
    for code, row in overview.items():
        ticks = [t for t in SCENARIO.live if t.code == code]
        latest = max(ticks, key=lambda t: t.timestamp_ms)
        assert row["rate"] == latest.rate
        assert row["name"] == f"{code} coin"
        assert close_enough(row["change_24h_pct"], (0.9876 - 1) * 100)
        assert close_enough(row["change_1h_pct"], (1.0012 - 1) * 100)
        assert close_enough(row["change_7d_pct"], (1.0543 - 1) * 100)
        observed = max(t.rate for t in SCENARIO.history + SCENARIO.live if t.code == code)
        all_time_high = max(99_655.5, observed)
        assert close_enough(row["all_time_high"], all_time_high)
        assert close_enough(row["distance_from_ath_pct"], (latest.rate / all_time_high - 1) * 100)


def test_tick_change_versus_the_previous_tick_of_the_same_coin(
    clickhouse: Any, kafka_feeder: Any
) -> None:
    # The view's 24 h / 48 h windows end at the query's now(): data that ends now, and only
    # the ticks inside the windows at query time count.
    recent_scenario = golden_scenario(datetime.now(tz=UTC), history_days=2)
    feed_scenario(kafka_feeder, recent_scenario)
    stored = rows(clickhouse, "SELECT * FROM crypto.tick_change ORDER BY code, ts")
    queried_at_ms = int(
        clickhouse.query("SELECT toUnixTimestamp64Milli(now64(3))").result_rows[0][0]
    )
    horizon_ms = queried_at_ms - DAY_MS
    window_ms = queried_at_ms - 2 * DAY_MS
    checked = 0
    for code in ("BTC", "ETH"):
        ticks = sorted(
            (t for t in recent_scenario.live if t.code == code), key=lambda t: t.timestamp_ms
        )
        recent = [(i, t) for i, t in enumerate(ticks) if t.timestamp_ms >= horizon_ms + 5_000]
        actual = {int(r["ts"].timestamp() * 1000): r for r in stored if r["code"] == code}
        for index, tick in recent:
            row = actual[tick.timestamp_ms]
            previous = ticks[index - 1] if index > 0 else None
            if previous is None or previous.timestamp_ms < window_ms:
                continue
            assert close_enough(row["change_pct"], (tick.rate / previous.rate - 1) * 100)
            checked += 1
    assert checked > 400
