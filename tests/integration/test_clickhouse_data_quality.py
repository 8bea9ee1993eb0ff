"""Data quality at the ClickHouse door (issue 9 §4, §5): every ingest path rejects implausible
times and prices into ``ingest_errors`` with a reason, a redelivered bad message counts once,
the same tick re-sent with another price gives one answer whatever the merges, and no view ever
yields ±inf or NaN, even over rows stored before the rule existed."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from producers.clock import day_start_ms, epoch_ms
from tests.support.clickhouse_loader import rows
from tests.support.tick_data import (
    NOON_MS,
    Tick,
    current_full_message,
    history_message,
    moving_average_message,
    ohlc_minute_message,
    recent_morning_ms,
)

PRICE_REASON = "rejected: prices must be finite numbers > 0"
TIME_REASON = "is not epoch milliseconds between 2009-01-03 and 2100-01-01 UTC"


def errors_by_code(client: Any, topic: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for row in rows(client, f"SELECT * FROM crypto.ingest_errors FINAL WHERE topic = '{topic}'"):
        found[json.loads(row["raw_message"])["code"]] = row
    return found


def live_message(code: str, moment: int, **overrides: Any) -> str:
    return json.dumps(current_full_message(Tick(code, moment, 100.0), **overrides))


# ---- rejected inputs, through the Kafka topics ---------------------------------------------
# (code, message overrides, the reason)
LIVE_REJECTS: list[tuple[str, dict[str, Any], str]] = [
    ("ZERO", {"rate": 0}, f"{PRICE_REASON}: rate = 0"),
    ("NEGATIVE", {"rate": -1.5}, f"{PRICE_REASON}: rate = -1.5"),
    ("NANBARE", {"rate": float("nan")}, f"{PRICE_REASON}: rate = nan"),
    ("NANTEXT", {"rate": "nan"}, f"{PRICE_REASON}: rate = nan"),
    ("INFBARE", {"rate": float("inf")}, f"{PRICE_REASON}: rate = inf"),
    ("INFTEXT", {"rate": "inf"}, f"{PRICE_REASON}: rate = inf"),
    ("MINUSINF", {"rate": float("-inf")}, f"{PRICE_REASON}: rate = -inf"),
    ("NULL", {"rate": None}, f"{PRICE_REASON}: rate = null"),
    ("SECONDS", {"timestamp_ms": 1_700_000_000}, f"rejected: time 1700000000 {TIME_REASON}"),
    ("FAR", {"timestamp_ms": 10**16}, f"rejected: time 10000000000000000 {TIME_REASON}"),
    ("BEFORE", {"timestamp_ms": -5}, f"rejected: time -5 {TIME_REASON}"),
    ("", {}, "rejected: code is missing"),
]


def test_every_rejected_live_tick_lands_in_ingest_errors_with_its_reason(
    clickhouse: Any, kafka_feeder: Any
) -> None:
    moment = recent_morning_ms()
    values = [live_message(code, moment, **overrides) for code, overrides, _ in LIVE_REJECTS]
    values.append(live_message("GOOD", moment))
    kafka_feeder.insert_values("kafka_coins_current_full", values)

    stored = rows(clickhouse, "SELECT code, rate FROM crypto.coins_ticks")
    assert stored == [{"code": "GOOD", "rate": 100.0}]
    errors = errors_by_code(clickhouse, "coins_current_full")
    assert set(errors) == {code for code, *_ in LIVE_REJECTS}
    for (code, _, reason), sent in zip(LIVE_REJECTS, values, strict=False):
        error = errors[code]
        assert error["error"] == reason, code
        # the message as it arrived: NaN and "nan", Infinity and "inf" keep their spelling
        assert error["raw_message"] == sent, code


def test_an_unparsable_message_keeps_its_bytes_as_they_arrived(
    clickhouse: Any, kafka_feeder: Any
) -> None:
    moment = recent_morning_ms()
    unparsable = f'{{"code": "BAD", "timestamp_ms": {moment}, "rate": nan}}'
    kafka_feeder.insert_values("kafka_coins_current_full", [unparsable])
    errors = rows(clickhouse, "SELECT error, raw_message FROM crypto.ingest_errors")
    assert [e["raw_message"] for e in errors] == [unparsable]
    assert errors[0]["error"]
    assert not errors[0]["error"].startswith("rejected:")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"rate": 0.0}, f"{PRICE_REASON}: rate = 0"),
        ({"rate": float("inf")}, f"{PRICE_REASON}: rate = inf"),
        ({"timestamp_ms": 1_700_000_000}, TIME_REASON),
    ],
)
def test_history_points_are_held_to_the_same_rule(
    clickhouse: Any, kafka_feeder: Any, overrides: dict[str, Any], reason: str
) -> None:
    moment = day_start_ms(date.today() - timedelta(days=3)) + NOON_MS
    bad = json.dumps(history_message(Tick("BAD", moment, 10.0), **overrides))
    good = json.dumps(history_message(Tick("GOOD", moment, 10.0)))
    kafka_feeder.insert_values("kafka_coins_historical", [bad, good])
    assert rows(clickhouse, "SELECT code, rate FROM crypto.coins_history") == [
        {"code": "GOOD", "rate": 10.0}
    ]
    error = errors_by_code(clickhouse, "coins_historical")["BAD"]
    assert reason in error["error"]


@pytest.mark.parametrize(
    ("table", "message", "reason"),
    [
        (
            "kafka_coins_ohlc_minute",
            {**ohlc_minute_message("BAD", 0, [1.0, 2.0]), "close": 0.0},
            f"{PRICE_REASON}: close = 0",
        ),
        (
            "kafka_coins_ohlc_minute",
            {**ohlc_minute_message("BAD", 0, [1.0, 2.0]), "open": float("nan")},
            f"{PRICE_REASON}: open = nan",
        ),
        (
            "kafka_coins_ohlc_minute",
            {**ohlc_minute_message("BAD", 0, [1.0]), "window_start_ms": 1_700_000_000},
            f"rejected: time 1700000000 {TIME_REASON}",
        ),
        (
            "kafka_coins_moving_average_60s",
            {**moving_average_message("BAD", 0, [1.0]), "moving_average": -3.0},
            f"{PRICE_REASON}: moving_average = -3",
        ),
        (
            "kafka_coins_moving_average_60s",
            {**moving_average_message("BAD", 0, [1.0]), "moving_average": float("inf")},
            f"{PRICE_REASON}: moving_average = inf",
        ),
    ],
)
def test_ksqldb_outputs_are_held_to_the_same_rule(
    clickhouse: Any, kafka_feeder: Any, table: str, message: dict[str, Any], reason: str
) -> None:
    window = epoch_ms(datetime.now(tz=UTC)) // 60_000 * 60_000 - 120_000
    if message["window_start_ms"] == 0:
        message["window_start_ms"] = window
    good = {**message, "code": "GOOD", "window_start_ms": window}
    for price in ("open", "high", "low", "close", "moving_average"):
        if price in good:
            good[price] = 1.0
    kafka_feeder.insert_values(table, [json.dumps(message), json.dumps(good)])

    stored = table.removeprefix("kafka_coins_")
    target = "ksql_ohlc_minute" if stored == "ohlc_minute" else "ksql_moving_average_60s"
    assert [r["code"] for r in rows(clickhouse, f"SELECT code FROM crypto.{target}")] == ["GOOD"]
    topic = table.removeprefix("kafka_")
    assert errors_by_code(clickhouse, topic)["BAD"]["error"] == reason


# ---- a redelivered bad message counts once ---------------------------------------------------
def test_a_redelivered_bad_message_collapses_to_one_error(clickhouse: Any) -> None:
    # What the error views write when the engine re-reads a block after a failure: the same
    # topic, partition and offset again, received later (the Kafka-level redelivery itself is
    # the engine's, tested with the real engine in the ingestion tests).
    insert = (
        "INSERT INTO crypto.ingest_errors "
        "(received_at, topic, kafka_partition, kafka_offset, kafka_key, error, raw_message) VALUES"
    )
    clickhouse.command(
        f"{insert} (now64(3) - INTERVAL 5 SECOND, 'coins_current_full', 0, 42, 'BTC', 'e', 'x')"
    )
    clickhouse.command(f"{insert} (now64(3), 'coins_current_full', 0, 42, 'BTC', 'e', 'x')")
    clickhouse.command(f"{insert} (now64(3), 'coins_current_full', 1, 42, 'BTC', 'e', 'y')")

    by_topic = rows(clickhouse, "SELECT * FROM crypto.ingestion_errors_by_topic")
    assert [(r["errors_total"], r["errors_last_hour"]) for r in by_topic] == [(2, 2)]
    clickhouse.command("OPTIMIZE TABLE crypto.ingest_errors FINAL")
    assert clickhouse.command("SELECT count() FROM crypto.ingest_errors") == 2
    again = rows(clickhouse, "SELECT errors_total FROM crypto.ingestion_errors_by_topic")
    assert again == [{"errors_total": 2}]


# ---- the same tick re-sent with another price ------------------------------------------------
TIE_VIEWS = {
    "minute": "SELECT code, open, close, high FROM crypto.ohlc_minute_live ORDER BY code",
    "day": "SELECT code, open, close FROM crypto.ohlc_daily_live ORDER BY code",
    "close": "SELECT code, close FROM crypto.daily_close ORDER BY code",
    "tick": "SELECT code, rate FROM crypto.tick_change ORDER BY code",
    "overview": "SELECT code, rate FROM crypto.coin_overview ORDER BY code",
    "stored": "SELECT code, rate FROM crypto.coins_ticks FINAL ORDER BY code",
}


def test_a_tick_resent_with_another_price_gives_the_same_close_before_and_after_merges(
    clickhouse: Any, kafka_feeder: Any
) -> None:
    moment = recent_morning_ms()
    # two coins, the two prices in opposite orders, each in its own insert (its own part)
    for up, down in [(100.0, 101.0), (101.0, 100.0)]:
        kafka_feeder.insert_values(
            "kafka_coins_current_full",
            [live_message("UP", moment, rate=up), live_message("DOWN", moment, rate=down)],
        )

    def answers() -> dict[str, list[dict[str, Any]]]:
        return {name: rows(clickhouse, sql) for name, sql in TIE_VIEWS.items()}

    before = answers()
    for name, found in before.items():
        assert all(row.get("close", row.get("rate")) == 101.0 for row in found), (name, found)
        assert [row["code"] for row in found] == ["DOWN", "UP"], name
    assert all(row["open"] == 101.0 for row in before["minute"] + before["day"])

    for table in ("coins_ticks", "rollup_ohlc_minute", "rollup_ohlc_day"):
        clickhouse.command(f"OPTIMIZE TABLE crypto.{table} FINAL")
    assert answers() == before


def test_a_history_point_resent_with_another_price_gives_the_same_close(
    clickhouse: Any, kafka_feeder: Any
) -> None:
    moment = day_start_ms(date.today() - timedelta(days=2)) + NOON_MS
    for rate in (7.0, 9.0, 8.0):
        kafka_feeder.insert_values(
            "kafka_coins_historical",
            [json.dumps(history_message(Tick("HIST", moment, rate)))],
        )
    before = rows(clickhouse, "SELECT close FROM crypto.daily_close")
    clickhouse.command("OPTIMIZE TABLE crypto.coins_history FINAL")
    assert before == rows(clickhouse, "SELECT close FROM crypto.daily_close") == [{"close": 9.0}]
    assert rows(clickhouse, "SELECT close FROM crypto.history_daily") == [{"close": 9.0}]


# ---- every view is guarded: NULL, never ±inf or NaN ------------------------------------------
def insert_history(client: Any, code: str, closes: list[float], last_day: date) -> None:
    """Rows written straight into storage (as a server that ran before the ingest rule may hold)."""
    first = last_day - timedelta(days=len(closes) - 1)
    values = ", ".join(
        f"('{code}', fromUnixTimestamp64Milli({day_start_ms(first + timedelta(days=i)) + NOON_MS}, "
        f"'UTC'), 'test', 'USD', 1, {_sql_float(close)}, NULL, NULL, NULL, 0, {i}, now64(3))"
        for i, close in enumerate(closes)
    )
    client.command(
        "INSERT INTO crypto.coins_history (code, ts, source, currency, schema_version, rate, "
        f"volume, cap, liquidity, kafka_partition, kafka_offset, ingested_at) VALUES {values}"
    )


def _sql_float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def non_finite_values(client: Any) -> dict[str, int]:
    columns = rows(
        client,
        "SELECT c.table AS view, c.name AS column, c.type AS type FROM system.columns AS c "
        "JOIN system.tables AS t ON t.database = c.database AND t.name = c.table "
        "WHERE c.database = 'crypto' AND t.engine = 'View' AND c.type LIKE '%Float%'",
    )
    assert len(columns) > 40
    found: dict[str, int] = {}
    for column in columns:
        view, name = column["view"], column["column"]
        # an array of prices (a sparkline) is finite when every element is
        condition = (
            f"arrayExists(x -> NOT isFinite(assumeNotNull(x)), `{name}`)"
            if column["type"].startswith("Array(")
            else f"NOT isFinite(`{name}`)"
        )
        bad = client.command(f"SELECT countIf({condition}) FROM crypto.{view}")
        if bad:
            found[f"{view}.{name}"] = int(bad)
    return found


def test_no_view_yields_infinity_or_nan_over_bad_stored_prices(clickhouse: Any) -> None:
    today = datetime.now(tz=UTC).date()
    closes = [100.0 * (1.01**i) for i in range(60)]
    closes[20], closes[35], closes[45], closes[50] = 0.0, -5.0, math.inf, math.nan
    insert_history(clickhouse, "BROKEN", closes, today)
    insert_history(clickhouse, "ONLYZERO", [0.0], today)
    # a valid tick, then 0, -1, inf, nan and -inf a second apart (each its own insert)
    for offset, rate in enumerate(["5.0", "0.0", "-1.0", "inf", "nan", "-inf"]):
        clickhouse.command(
            "INSERT INTO crypto.coins_ticks (code, ts, source, currency, schema_version, rate, "
            "categories, kafka_partition, kafka_offset, ingested_at) VALUES ('TICKBAD', "
            f"toStartOfMinute(now64(3, 'UTC')) - INTERVAL 2 MINUTE + INTERVAL {offset} SECOND, "
            f"'test', 'USD', 1, {rate}, [], 0, {offset}, now64(3))"
        )

    assert non_finite_values(clickhouse) == {}
    # stored non-prices never reach the rollups, the tick changes or the overview
    minute = rows(clickhouse, "SELECT * FROM crypto.ohlc_minute_live WHERE code = 'TICKBAD'")
    assert [(m["open"], m["high"], m["low"], m["close"], m["tick_count"]) for m in minute] == [
        (5.0, 5.0, 5.0, 5.0, 1)
    ]
    ticks = rows(clickhouse, "SELECT rate FROM crypto.tick_change WHERE code = 'TICKBAD'")
    assert ticks == [{"rate": 5.0}]
    overview = rows(clickhouse, "SELECT rate FROM crypto.coin_overview WHERE code = 'TICKBAD'")
    assert overview == [{"rate": 5.0}]
    # a bad close never becomes a close: the coin whose only close is 0 has none, ranks nowhere
    closes_of = rows(
        clickhouse,
        "SELECT code, count() AS days, max(close) AS highest FROM crypto.daily_close GROUP BY code",
    )
    days = {r["code"]: (r["days"], r["highest"]) for r in closes_of}
    assert days.pop("BROKEN")[0] == 56
    # TICKBAD's only price is 5.0, a close when its minute is at or before 12:00 UTC
    assert days in ({}, {"TICKBAD": (1, 5.0)})
    ranked = {r["code"] for r in rows(clickhouse, "SELECT code FROM crypto.performance_ranking")}
    assert "ONLYZERO" not in ranked
    # stddevSamp over ±inf returns 0: no 30-day window that crosses a bad day has a volatility
    risk = rows(
        clickhouse, "SELECT day, log_return, volatility_30d_pct FROM crypto.risk_daily ORDER BY day"
    )
    assert all(r["volatility_30d_pct"] is None or r["volatility_30d_pct"] > 0 for r in risk)
    assert [r["volatility_30d_pct"] for r in risk[-9:]] == [None] * 9
    assert all(r["log_return"] is None or math.isfinite(r["log_return"]) for r in risk)
