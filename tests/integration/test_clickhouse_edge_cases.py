"""Edge cases of the ClickHouse path: duplicates, gaps, single ticks, nulls, disorder, ksqlDB
updates and malformed messages, all through the Kafka tables."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from embedded.clickhouse import INIT_DIR, apply_init
from producers.clock import epoch_ms
from tests.support.clickhouse_loader import VIEW_SNAPSHOTS, rows, snapshot
from tests.support.tick_data import (
    Tick,
    as_json,
    current_full_message,
    feed_every_view,
    feed_ksql,
    feed_scenario,
    moving_average_message,
    ohlc_minute_message,
    recent_morning_ms,
)


def test_duplicated_messages_leave_every_result_unchanged(
    clickhouse: Any, kafka_feeder: Any
) -> None:
    # ends now: tick_change and coin_overview window on the query's now()
    now = datetime.now(tz=UTC)
    scenario = feed_every_view(kafka_feeder, now)
    tick_change_since = now - timedelta(hours=23)
    before = snapshot(clickhouse, tick_change_since)
    assert all(before[view] for view in VIEW_SNAPSHOTS), [
        v for v in VIEW_SNAPSHOTS if not before[v]
    ]

    # at-least-once delivery: everything again, other offsets, other order, not yet merged
    feed_scenario(kafka_feeder, scenario, seed=99)
    feed_ksql(kafka_feeder)
    assert snapshot(clickhouse, tick_change_since) == before

    for table in (
        "coins_ticks",
        "coins_history",
        "rollup_ohlc_minute",
        "rollup_ohlc_day",
        "ksql_ohlc_minute",
        "ksql_moving_average_60s",
    ):
        clickhouse.command(f"OPTIMIZE TABLE crypto.{table} FINAL")
    assert snapshot(clickhouse, tick_change_since) == before


def test_a_coin_with_a_single_tick(clickhouse: Any, kafka_feeder: Any) -> None:
    # in the last 24 h and at or before 12:00 UTC of its day, so the day has a close
    tick = Tick("PEPE", recent_morning_ms(), 0.00001234, volume=5.0, cap=None)
    kafka_feeder.insert_values("kafka_coins_current_full", as_json([current_full_message(tick)]))

    day = rows(clickhouse, "SELECT * FROM crypto.ohlc_daily_live")
    assert [(r["open"], r["high"], r["low"], r["close"], r["tick_count"]) for r in day] == [
        (tick.rate, tick.rate, tick.rate, tick.rate, 1)
    ]
    overview = rows(clickhouse, "SELECT * FROM crypto.coin_overview")
    assert [r["rate"] for r in overview] == [tick.rate]
    assert rows(clickhouse, "SELECT * FROM crypto.tick_change")[0]["change_pct"] is None
    closes = rows(clickhouse, "SELECT * FROM crypto.daily_close")
    assert [(r["close"], r["close_source"]) for r in closes] == [(tick.rate, "live")]
    performance = rows(clickhouse, "SELECT * FROM crypto.performance_returns")[0]
    assert performance["return_1d_pct"] is None
    assert performance["return_since_first_pct"] == 0.0
    indicators = rows(clickhouse, "SELECT * FROM crypto.ema_macd_daily")[0]
    assert indicators["ema_12"] is None
    assert indicators["macd"] is None
    assert rows(clickhouse, "SELECT * FROM crypto.rsi_daily")[0]["rsi_14"] is None
    assert rows(clickhouse, "SELECT * FROM crypto.risk_daily")[0]["log_return"] is None
    assert rows(clickhouse, "SELECT * FROM crypto.moving_averages_daily")[0]["days_in_sma_10"] == 1


def test_null_supply_fields_are_stored_as_null(clickhouse: Any, kafka_feeder: Any) -> None:
    tick = Tick("XRP", epoch_ms(datetime.now(tz=UTC)) - 10_000, 2.15, volume=None, cap=None)
    message = current_full_message(
        tick,
        circulating_supply=None,
        total_supply=None,
        max_supply=None,
        all_time_high_usd=None,
        name=None,
        rank=None,
        liquidity=None,
    )
    kafka_feeder.insert_values("kafka_coins_current_full", [json.dumps(message)])

    stored = rows(clickhouse, "SELECT * FROM crypto.coins_ticks")
    assert len(stored) == 1
    assert stored[0]["circulating_supply"] is None
    assert stored[0]["max_supply"] is None
    assert stored[0]["volume"] is None
    overview = rows(clickhouse, "SELECT * FROM crypto.coin_overview")[0]
    assert (overview["total_supply"], overview["cap"], overview["name"]) == (None, None, None)
    assert overview["all_time_high"] == 2.15  # only the observed price is known
    assert (
        rows(clickhouse, "SELECT volume_24h FROM crypto.ohlc_minute_live")[0]["volume_24h"] is None
    )


def test_out_of_order_ticks_give_the_same_ohlc(clickhouse: Any, kafka_feeder: Any) -> None:
    start = epoch_ms(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    ticks = [Tick("ETH", start + i * 7_000, 2000.0 + (i * 37 % 11)) for i in range(30)]
    reversed_values = as_json(current_full_message(t) for t in reversed(ticks))
    for value in reversed_values:  # one message per insert, newest first
        kafka_feeder.insert_values("kafka_coins_current_full", [value])

    minutes = rows(clickhouse, "SELECT * FROM crypto.ohlc_minute_live ORDER BY minute")
    for row in minutes:
        start_ms = int(row["minute"].replace(tzinfo=UTC).timestamp() * 1000)
        members = [t for t in ticks if start_ms <= t.timestamp_ms < start_ms + 60_000]
        assert row["open"] == members[0].rate
        assert row["close"] == members[-1].rate
        assert row["high"] == max(t.rate for t in members)
        assert row["low"] == min(t.rate for t in members)
        assert row["tick_count"] == len(members)
    assert sum(r["tick_count"] for r in minutes) == len(ticks)


@pytest.mark.parametrize("order", ["in_order", "reversed"])
def test_a_ksqldb_window_updated_five_times_keeps_the_last_values(
    clickhouse: Any, kafka_feeder: Any, order: str
) -> None:
    start = epoch_ms(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
    prices = [100.0, 101.5, 99.25, 100.75, 102.0]
    updates = [ohlc_minute_message("SOL", start, prices[: n + 1]) for n in range(5)]
    averages = [moving_average_message("SOL", start, prices[: n + 1]) for n in range(5)]
    if order == "reversed":
        updates.reverse()
        averages.reverse()
    for update, average in zip(updates, averages, strict=True):
        kafka_feeder.insert_values("kafka_coins_ohlc_minute", [json.dumps(update)])
        kafka_feeder.insert_values("kafka_coins_moving_average_60s", [json.dumps(average)])

    ohlc = rows(clickhouse, "SELECT * FROM crypto.ksql_ohlc_minute_final")
    assert len(ohlc) == 1
    row = ohlc[0]
    assert (row["open"], row["high"], row["low"], row["close"], row["tick_count"]) == (
        100.0,
        102.0,
        99.25,
        102.0,
        5,
    )
    assert int(row["window_end"].replace(tzinfo=UTC).timestamp() * 1000) == start + 60_000
    average_rows = rows(clickhouse, "SELECT * FROM crypto.ksql_moving_average_60s_final")
    assert [(r["moving_average"], r["tick_count"]) for r in average_rows] == [(sum(prices) / 5, 5)]
    # Five inserts, five parts: a background merge may already have collapsed them (the real
    # engine merges on its own schedule), the deduplicated read is one row either way.
    stored = rows(clickhouse, "SELECT count() AS n FROM crypto.ksql_ohlc_minute FINAL")[0]["n"]
    assert stored == 1


def test_a_malformed_message_is_kept_as_an_error_and_the_next_one_is_ingested(
    clickhouse: Any, kafka_feeder: Any
) -> None:
    now_ms = epoch_ms(datetime.now(tz=UTC))
    valid = json.dumps(current_full_message(Tick("BTC", now_ms - 5_000, 97_000.5)))
    missing_rate = json.dumps(current_full_message(Tick("BTC", now_ms - 4_000, 1.0), rate=None))
    values = ['{"code": "BTC", "rate": "not-a-number', missing_rate, valid]
    live = kafka_feeder.insert_values("kafka_coins_current_full", values, keys=["BTC"] * 3)
    (ksql,) = kafka_feeder.insert_values("kafka_coins_ohlc_minute", ["not json at all"])

    assert [r["rate"] for r in rows(clickhouse, "SELECT rate FROM crypto.coins_ticks")] == [
        97_000.5
    ]
    errors = rows(clickhouse, "SELECT * FROM crypto.ingest_errors ORDER BY topic, kafka_offset")
    # the offsets the broker acknowledged for the two bad live values and the bad window
    assert [(e["topic"], e["kafka_partition"], e["kafka_offset"]) for e in errors] == [
        tuple(live[0]),
        tuple(live[1]),
        tuple(ksql),
    ]
    assert errors[0]["raw_message"] == values[0]
    assert errors[0]["kafka_key"] == "BTC"
    assert errors[0]["error"]
    assert "rate" in errors[1]["error"]
    assert errors[1]["raw_message"] == missing_rate  # as it arrived
    assert errors[2]["raw_message"] == "not json at all"
    by_topic = {
        r["topic"]: r for r in rows(clickhouse, "SELECT * FROM crypto.ingestion_errors_by_topic")
    }
    assert by_topic["coins_current_full"]["errors_total"] == 2
    assert by_topic["coins_current_full"]["errors_last_hour"] == 2
    assert by_topic["coins_ohlc_minute"]["errors_total"] == 1


def test_every_init_file_applies_again_over_the_schema(
    clickhouse: Any, clickhouse_backend: Any
) -> None:
    # The session's engine got the init SQL on an empty database already. Dropping the database
    # here would cost the next test about 45 s: chDB does not take a dropped Kafka table's
    # consumer out of its group, so a new one joins only after the session timeout (measured).
    apply_init(clickhouse)
    apply_init(clickhouse)

    kafka_tables = rows(
        clickhouse, "SELECT name FROM system.tables WHERE database = 'crypto' AND engine = 'Kafka'"
    )
    assert sorted(row["name"] for row in kafka_tables) == sorted(
        name.split(".")[1] for name in clickhouse_backend.kafka_tables
    )
    assert (
        len(kafka_tables) == 7
    )  # four pipeline topics, the alerts and their deliveries, the portfolio
    declared = {
        path.name: re.findall(
            r"CREATE\s+(?:MATERIALIZED\s+)?(?:TABLE|VIEW)\s+IF\s+NOT\s+EXISTS\s+crypto\.(\w+)",
            path.read_text(),
        )
        for path in INIT_DIR.glob("*.sql")
        if not path.name.startswith("000_") and "CREATE FUNCTION" not in path.read_text()
    }
    assert all(len(names) == 1 for names in declared.values()), declared
    functions = rows(
        clickhouse, "SELECT name FROM system.functions WHERE origin = 'SQLUserDefined'"
    )
    assert {"crypto_ingest_rejection", "crypto_tick_order"} <= {row["name"] for row in functions}
    # A refresh running right after creation fills a temporary table (`.tmp.inner…` or
    # `_tmp_replace_…`, depending on the path) before swapping it in: not a project object.
    existing = {
        row["name"]
        for row in rows(clickhouse, "SELECT name FROM system.tables WHERE database = 'crypto'")
        if not row["name"].startswith((".", "_tmp_replace_"))
    }
    assert existing == {names[0] for names in declared.values()}
    for view in VIEW_SNAPSHOTS:
        clickhouse.query(f"SELECT * FROM crypto.{view} LIMIT 1")
