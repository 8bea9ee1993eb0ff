"""Every Metabase question's SQL, run on the real ClickHouse engine over known sample data.

The sample data goes in as Kafka message values through the broker and the project's Kafka
tables (ClickHouse's real Kafka engine, in chDB or a container): 260 days of history, live
ticks of the last two days, ksqlDB window results and one malformed message; then the snapshot
tables the daily indicator cards read are refreshed once, as ClickHouse does every minute. Each
question is rendered the way Metabase renders it (template variables replaced by their
defaults, optional clauses resolved) and must return every column its visualization settings
name, at least one row, and values that make sense for what the chart shows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from producers.clock import epoch_ms
from provisioning.metabase.definitions import Definitions, QuestionDefinition, load_definitions
from provisioning.metabase.sql_template import TemplateValue, render
from tests.support.clickhouse_snapshots import refresh_snapshots
from tests.support.metabase_columns import referenced_columns
from tests.support.portfolio_data import feed_sample_portfolio
from tests.support.tick_data import (
    Scenario,
    Tick,
    as_json,
    current_full_message,
    golden_scenario,
    history_message,
    live_ticks,
    moving_average_message,
    ohlc_minute_message,
)

DEFINITIONS = load_definitions(Path(__file__).resolve().parents[2] / "metabase")


def current_scenario() -> Scenario:
    """The sample data as of now: built when a test runs, not when the module is imported (a
    slow suite would otherwise feed ticks older than the "seconds since last tick" bound)."""
    now = datetime.now(tz=UTC)
    golden = golden_scenario(now, history_days=260)
    last_btc = max((t for t in golden.live if t.code == "BTC"), key=lambda t: t.timestamp_ms)
    # One more tick a second ago, so "today" has live data even just after midnight UTC.
    return Scenario(
        history=golden.history,
        live=[*golden.live, Tick("BTC", epoch_ms(now) - 1000, last_btc.rate * 1.001, 1e9, 1e12)],
        missing_day=golden.missing_day,
    )


MALFORMED_TICK = '{"code": "BTC", "rate": "not-a-number", "timestamp_ms": '

Rows = list[dict[str, Any]]


def ksql_results(live: list[Tick]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What ksqlDB would emit for these ticks: minute OHLC and 60 s averages (30 s hop)."""
    by_window: dict[tuple[str, int], list[Tick]] = defaultdict(list)
    by_hop: dict[tuple[str, int], list[Tick]] = defaultdict(list)
    for tick in sorted(live, key=lambda t: t.timestamp_ms):
        by_window[(tick.code, tick.timestamp_ms // 60_000 * 60_000)].append(tick)
        hop = tick.timestamp_ms // 30_000 * 30_000
        for start in (hop, hop - 30_000):
            by_hop[(tick.code, start)].append(tick)
    ohlc = [
        ohlc_minute_message(code, start, [t.rate for t in ticks])
        for (code, start), ticks in by_window.items()
    ]
    averages = [
        moving_average_message(code, start, [t.rate for t in ticks])
        for (code, start), ticks in by_hop.items()
    ]
    return ohlc, averages


def feed(kafka_feeder: Any, client: Any, scenario: Scenario) -> None:
    ohlc, averages = ksql_results(scenario.live)
    kafka_feeder.insert_values(
        "kafka_coins_historical", as_json(history_message(t) for t in scenario.history)
    )
    live = as_json(current_full_message(t) for t in scenario.live)
    kafka_feeder.insert_values("kafka_coins_current_full", [*live, MALFORMED_TICK])
    kafka_feeder.insert_values("kafka_coins_ohlc_minute", as_json(ohlc))
    kafka_feeder.insert_values("kafka_coins_moving_average_60s", as_json(averages))
    # the Portfolio cards' default filter value is the shipped demo portfolio's name
    feed_sample_portfolio(kafka_feeder, datetime.now(tz=UTC).date(), name="demo")
    alerts, deliveries = alert_samples(epoch_ms(datetime.now(tz=UTC)))
    kafka_feeder.insert_values("kafka_coins_alerts", alerts)
    kafka_feeder.insert_values("kafka_coins_alerts_deliveries", deliveries)
    # The daily-indicator cards read snapshot tables that ClickHouse refreshes every minute.
    refresh_snapshots(client)


def alert_samples(now_ms: int) -> tuple[list[str], list[str]]:
    """Three alerts of two rules, the first delivered, the second dead-lettered, the third
    without a webhook, as ``coins alerts`` writes them (alerts/models.py)."""
    from alerts.models import AlertMessage, DeliveryMessage, DeliveryStatus

    alerts = [
        AlertMessage(
            alert_id=f"sample-{n}",
            rule_id=rule,
            rule_kind="price_above",
            rules_version=1,
            coin=coin,
            event_time_ms=now_ms - (3 - n) * 600_000,
            fired_at_ms=now_ms - (3 - n) * 600_000 + 50,
            summary=f"{coin} is above its level (rule {rule})",
            values={"rate": 100.0 + n, "level": 100.0},
            source="demo",
        )
        for n, (rule, coin) in enumerate((("btc-high", "BTC"), ("btc-high", "ETH"), ("x", "SOL")))
    ]
    outcomes: list[tuple[int, DeliveryStatus, int, int, str]] = [
        (0, "delivered", 1, 200, ""),
        (1, "dead_letter", 8, 503, "webhook team: HTTP 503; gave up after 8 attempts"),
    ]
    deliveries = [
        DeliveryMessage(
            alert_id=alerts[n].alert_id,
            rule_id=alerts[n].rule_id,
            coin=alerts[n].coin,
            webhook="team",
            webhook_kind="slack",
            status=status,
            attempts=attempts,
            http_status=http_status,
            reason=reason,
            event_time_ms=alerts[n].event_time_ms,
            finished_at_ms=alerts[n].fired_at_ms + 100,
        )
        for n, status, attempts, http_status, reason in outcomes
    ]
    return [a.model_dump_json() for a in alerts], [d.model_dump_json() for d in deliveries]


def run_question(
    client: Any, question: QuestionDefinition, overrides: dict[str, TemplateValue] | None = None
) -> tuple[list[str], Rows]:
    values: dict[str, TemplateValue | None] = {t.name: t.default for t in question.parameters}
    values.update(overrides or {})
    result = client.query(render(question.sql, values))
    names = list(result.column_names)
    return names, [dict(zip(names, row, strict=True)) for row in result.result_rows]


def finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def metric_columns(question: QuestionDefinition) -> set[str]:
    settings = question.visualization_settings
    metrics = settings.get("graph.metrics", [])
    single = [settings.get(key) for key in ("scalar.field", "pie.metric") if settings.get(key)]
    return {*metrics, *single}


def values(rows: Rows, column: str) -> list[Any]:
    return [row[column] for row in rows if row[column] is not None]


def ordered(sequence: list[Any], *, descending: bool = False) -> bool:
    return sequence == sorted(sequence, reverse=descending)


# What "sensible" means for each question, beyond columns, rows and finite metrics.
SENSIBLE: dict[str, Callable[[Rows], bool]] = {
    "Market now: latest prices": lambda rows: (
        {"BTC", "ETH", "SOL"} <= {r["code"] for r in rows}
        and all(r["price_usd"] > 0 and r["distance_from_ath_pct"] <= 1e-9 for r in rows)
    ),
    "Market now: total market cap": lambda rows: rows[0]["total_market_cap"] > 0,
    "Market now: seconds since last tick": lambda rows: (
        0 <= rows[0]["seconds_since_last_tick"] < 600
    ),
    "Market now: winners (24 h)": lambda rows: (
        len(rows) <= 5 and ordered([r["change_24h_pct"] for r in rows], descending=True)
    ),
    "Market now: losers (24 h)": lambda rows: (
        len(rows) <= 5 and ordered([r["change_24h_pct"] for r in rows])
    ),
    "Market now: change 1 h / 24 h / 7 d": lambda rows: (
        len({r["code"] for r in rows}) == len(rows)
        and all(abs(r["change_24h_pct"]) < 100 for r in rows)
    ),
    "Market now: market cap share": lambda rows: all(r["cap"] > 0 for r in rows),
    "Market now: price change per tick": lambda rows: (
        ordered([r["ts"] for r in rows]) and all(abs(v) < 50 for v in values(rows, "change_pct"))
    ),
    "Intraday: minute OHLC (ksqlDB)": lambda rows: all(
        r["low"] <= min(r["open"], r["close"]) <= max(r["open"], r["close"]) <= r["high"]
        for r in rows
    ),
    "Intraday: 60 s moving average (ksqlDB)": lambda rows: all(
        r["moving_average"] > 0 for r in rows
    ),
    "Intraday: minute close and ticks (ClickHouse rollup)": lambda rows: all(
        r["tick_count"] >= 1 and r["close"] > 0 for r in rows
    ),
    "Intraday: today's OHLC per coin": lambda rows: all(
        r["low"] <= r["close"] <= r["high"] and r["tick_count"] >= 1 for r in rows
    ),
    "Indicators: daily close with SMA 10/30/50/200": lambda rows: len(values(rows, "sma_200")) > 0,
    "Indicators: Bollinger bands (20, 2)": lambda rows: all(
        r["lower_20"] <= r["middle_20"] <= r["upper_20"] for r in rows if r["upper_20"] is not None
    ),
    "Indicators: RSI 14": lambda rows: all(0 <= v <= 100 for v in values(rows, "rsi_14")),
    "Indicators: MACD (12, 26, 9)": lambda rows: all(
        math.isclose(r["macd_histogram"], r["macd"] - r["macd_signal"], abs_tol=1e-6)
        for r in rows
        if r["macd_histogram"] is not None
    ),
    "Risk: 30-day volatility per coin": lambda rows: all(
        0 < r["volatility_30d_pct"] < 500 for r in rows
    ),
    "Risk: drawdown per coin": lambda rows: all(
        r["max_drawdown_pct"] <= r["current_drawdown_pct"] <= 0 for r in rows
    ),
    "Risk: volatility and drawdown over time": lambda rows: all(
        v <= 0 for v in values(rows, "drawdown_pct")
    ),
    "Performance: returns by period": lambda rows: (
        {"BTC", "ETH", "AAVE"} <= {r["code"] for r in rows}
    ),
    "Performance: ranking": lambda rows: (
        rows[0]["rank_best"] == 1 and ordered([r["return_pct"] for r in rows], descending=True)
    ),
    "Pipeline: freshness per coin and source": lambda rows: (
        {"live", "history"} <= {r["dataset"] for r in rows}
        and all(r["age_seconds"] >= 0 for r in rows)
    ),
    "Pipeline: live ticks per minute": lambda rows: all(r["ticks"] >= 1 for r in rows),
    "Pipeline: oldest live coin age": lambda rows: rows[0]["oldest_age_seconds"] >= 0,
    "Pipeline: ingestion errors by topic": lambda rows: any(
        r["topic"] == "coins_current_full" and r["errors_total"] >= 1 for r in rows
    ),
    "Pipeline: latest rejected messages": lambda rows: any(
        "not-a-number" in r["raw_message_start"] for r in rows
    ),
    "Portfolio: value now": lambda rows: rows[0]["value"] > 0,
    "Portfolio: value over time vs BTC only": lambda rows: (
        ordered([r["day"] for r in rows]) and all(v > 0 for v in values(rows, "value"))
    ),
    "Portfolio: time-weighted growth vs BTC": lambda rows: (
        rows[0]["growth_index"] == 1 and all(v > 0 for v in values(rows, "btc_index"))
    ),
    "Portfolio: allocation": lambda rows: (
        {r["code"] for r in rows} == {"BTC", "ETH", "AAVE"} and all(r["value"] > 0 for r in rows)
    ),
    "Portfolio: P&L per coin (average cost)": lambda rows: all(
        math.isclose(r["total_pnl"], r["realized_pnl"] + r["unrealized_pnl"]) for r in rows
    ),
    "Portfolio: returns and risk": lambda rows: (
        rows[0]["max_drawdown_pct"] <= 0 and rows[0]["twr_since_start_pct"] is not None
    ),
    "Portfolio: drawdown": lambda rows: all(v <= 0 for v in values(rows, "drawdown_pct")),
    "Portfolio: daily returns": lambda rows: all(abs(v) < 100 for v in values(rows, "return_pct")),
    "Portfolio: correlation of held coins": lambda rows: all(
        -1 - 1e-9 <= v <= 1 + 1e-9
        for column in ("correlation_30d", "correlation_90d")
        for v in values(rows, column)
    ),
    "Alerts: recent alerts": lambda rows: (
        ordered([r["event_time"] for r in rows], descending=True)
        and [r["delivery_status"] for r in rows] == ["none", "dead_letter", "delivered"]
    ),
    "Alerts: per rule and coin": lambda rows: (
        sum(r["alerts_total"] for r in rows) == 3
        and all(r["alerts_total"] >= r["alerts_last_24h"] >= 1 for r in rows)
    ),
    "Alerts: alerts per hour and rule": lambda rows: sum(r["alerts"] for r in rows) == 3,
    "Alerts: delivery status per webhook": lambda rows: (
        {(r["status"], r["deliveries"]) for r in rows} == {("delivered", 1), ("dead_letter", 1)}
    ),
}


def test_every_question_has_a_sensibility_check() -> None:
    assert set(SENSIBLE) == {q.name for q in DEFINITIONS.questions}


def check_question(client: Any, question: QuestionDefinition) -> list[str]:
    try:
        columns, rows = run_question(client, question)
    except Exception as error:  # the report names the question and ClickHouse's message
        return [f"{question.name}: query failed: {error}"]
    problems: list[str] = []
    missing = referenced_columns(question.visualization_settings) - set(columns)
    if missing:
        problems.append(f"{question.name}: visualization refers to missing columns {missing}")
    if not rows:
        return [*problems, f"{question.name}: no rows"]
    for column in metric_columns(question) - missing:
        if not any(finite(row[column]) for row in rows):
            problems.append(f"{question.name}: metric {column!r} has no finite value")
    if not problems and not SENSIBLE[question.name](rows):
        problems.append(f"{question.name}: implausible values, first rows {rows[:3]}")
    return problems


def test_every_question_runs_and_feeds_its_chart(clickhouse: Any, kafka_feeder: Any) -> None:
    feed(kafka_feeder, clickhouse, current_scenario())

    problems = [p for q in DEFINITIONS.questions for p in check_question(clickhouse, q)]

    assert problems == []


def test_dashboard_filters_change_what_the_cards_show(clickhouse: Any, kafka_feeder: Any) -> None:
    feed(kafka_feeder, clickhouse, current_scenario())
    definitions: Definitions = DEFINITIONS
    ohlc = definitions.question("Intraday: minute OHLC (ksqlDB)")

    _, btc = run_question(clickhouse, ohlc, {"coin": "BTC", "hours": 6})
    _, eth = run_question(clickhouse, ohlc, {"coin": "ETH", "hours": 6})
    _, btc_one_hour = run_question(clickhouse, ohlc, {"coin": "BTC", "hours": 1})

    assert btc
    assert eth
    assert {r["close"] for r in btc}.isdisjoint({r["close"] for r in eth})
    assert 0 < len(btc_one_hour) < len(btc)
    ranking = definitions.question("Performance: ranking")
    _, one_day = run_question(clickhouse, ranking, {"period": "1d"})
    _, quarter = run_question(clickhouse, ranking, {"period": "90d"})
    assert {r["code"] for r in one_day} == {r["code"] for r in quarter}
    assert [r["return_pct"] for r in one_day] != [r["return_pct"] for r in quarter]


@pytest.mark.parametrize("dashboard", [d.name for d in DEFINITIONS.dashboards])
def test_filter_defaults_are_valid_values_of_the_question_variables(dashboard: str) -> None:
    # A dashboard default overrides the question default: it must be a value the SQL accepts.
    board = next(d for d in DEFINITIONS.dashboards if d.name == dashboard)
    for parameter in board.parameters:
        if parameter.values is not None:
            assert parameter.default in parameter.values
        for card in board.cards:
            tag_name = card.filters.get(parameter.slug)
            if card.question is None or tag_name is None:
                continue
            tag = DEFINITIONS.question(card.question).tag(tag_name)
            assert tag is not None
            assert (tag.type == "number") == (parameter.type == "number/="), card.question
            assert tag.default == parameter.default, card.question


# Metabase returns at most this many rows of a native query (max-results-bare-rows,
# query_processor/middleware/constraints.clj and limit.clj) and drops the rest silently.
METABASE_ROW_CAP = 2000
# Filters widened the way a user widens them on a dashboard.
WIDENED = {"hours": 48, "days": 3650}
# The column each chart puts on its x axis; on a time axis the rows must be in time order.
TIME_AXIS = {
    q.name: q.visualization_settings["graph.dimensions"][0]
    for q in DEFINITIONS.questions
    if q.display in {"line", "area", "bar", "combo"}
    and q.visualization_settings.get("graph.dimensions")
}


def realistic_scenario(now: datetime) -> Scenario:
    """A day of demo-source ticks for BTC (one every 5 s, like COINS_DEMO_INTERVAL_SECONDS),
    ten years of daily history, plus the golden scenario's other coins."""
    base = golden_scenario(now, history_days=3650)
    start_ms = epoch_ms(now) - 86_400_000
    btc = [t for t in base.live if t.code == "BTC"]
    ticks = live_ticks(
        "BTC",
        start_ms=start_ms,
        count=86_400 // 5,
        spacing_ms=5_000,
        start_price=btc[-1].rate,
        seed=99,
    )
    others = [t for t in base.live if t.code != "BTC"]
    return Scenario(history=base.history, live=[*others, *ticks], missing_day=base.missing_day)


def test_every_card_shows_its_newest_data_within_metabases_row_cap(
    clickhouse: Any, kafka_feeder: Any
) -> None:
    scenario = realistic_scenario(datetime.now(tz=UTC))
    feed(kafka_feeder, clickhouse, scenario)
    newest_tick = datetime.fromtimestamp(
        max(t.timestamp_ms for t in scenario.live if t.code == "BTC") / 1000, tz=UTC
    )
    problems: list[str] = []
    for question in DEFINITIONS.questions:
        overrides: dict[str, TemplateValue] = {
            t.name: WIDENED[t.name] for t in question.parameters if t.name in WIDENED
        }
        for label, values_used in (("defaults", {}), ("widened", overrides)):
            _, rows = run_question(clickhouse, question, values_used)
            if len(rows) > METABASE_ROW_CAP:
                problems.append(
                    f"{question.name} ({label}): {len(rows)} rows, Metabase shows the first "
                    f"{METABASE_ROW_CAP} only"
                )
                continue
            axis = TIME_AXIS.get(question.name)
            if axis is None or not rows:
                continue
            times = [row[axis] for row in rows]
            if not isinstance(times[0], date):  # a category axis (coin codes), not time
                continue
            if times != sorted(times):
                problems.append(f"{question.name} ({label}): not ordered by {axis}")
            per_tick = question.name == "Market now: price change per tick"
            if per_tick and times[-1].replace(tzinfo=UTC) != newest_tick:
                problems.append(f"{question.name}: last point {times[-1]}, not the newest")
    assert problems == []
    # The volume really exceeds the cap: without the newest-first limit the per-tick card
    # would lose its newest hours.
    ticks_per_day = clickhouse.query(
        "SELECT count() FROM crypto.tick_change WHERE code = 'BTC'"
    ).result_rows[0][0]
    assert ticks_per_day > 5 * METABASE_ROW_CAP
