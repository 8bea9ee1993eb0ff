"""Portfolio views on the real ClickHouse engine, golden against reference_portfolio.py.

The transactions file is published with the product's own command (``publish_file``) to a real
Kafka broker and consumed into the Kafka table; then edited (a changed line, a deleted line, a
new line) and published again. Prices: daily history for BTC, ETH and SOL (SOL misses closes on
some days, one of them while held) plus live ticks today. Every figure of every portfolio view
must equal the reference's; duplicated messages must change nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from portfolio.cli import publish_file
from portfolio.transactions import parse
from producers.clock import epoch_ms
from producers.kafka.connection import KafkaConnection
from producers.kafka.reader import read_topic
from producers.settings import Settings
from tests.support.clickhouse_snapshots import refresh_snapshots, snapshots
from tests.support.portfolio_data import noon, transactions_yaml
from tests.support.reference_portfolio import Reference
from tests.support.tick_data import (
    Tick,
    as_json,
    current_full_message,
    daily_history,
    days_ending,
    history_message,
)

REL = 1e-9
KAFKA_TABLE = "crypto.kafka_portfolio_transactions"
# the portfolio views read the transactions as priced by the last refresh of this snapshot (as
# the server does every minute, before the portfolio snapshots)
PRICED = [item for item in snapshots() if item.view == "portfolio_transactions_priced"]


@dataclass(frozen=True)
class Calendar:
    """The days of the data, counted back from when the test runs: the views read now()."""

    now: dt.datetime

    @property
    def today(self) -> dt.date:
        return self.now.date()

    def day(self, n: int) -> dt.date:
        """The ``n``-th day of the transactions, the first 130 days ago."""
        return self.today - dt.timedelta(days=130 - n)

    @property
    def sol_gaps(self) -> set[dt.date]:
        """Days without a SOL close (one of them while SOL is held)."""
        return {self.day(n) for n in (2, 33, 34, 101)}


@pytest.fixture
def days() -> Calendar:
    return Calendar(dt.datetime.now(tz=dt.UTC))


def prices(days: Calendar) -> tuple[list[Tick], list[Tick]]:
    closes = days_ending(days.today - dt.timedelta(days=1), 135)
    history: list[Tick] = []
    for seed, (code, price) in enumerate((("BTC", 60_000.0), ("ETH", 2_500.0), ("SOL", 150.0))):
        coin_days = [d for d in closes if not (code == "SOL" and d in days.sol_gaps)]
        history += daily_history(code, coin_days, start_price=price, seed=40 + seed)
    now_ms = epoch_ms(days.now)
    live = [
        Tick(code, now_ms - 60_000 * (3 - n), rate)
        for code, rate in (("BTC", 61_000.0), ("ETH", 2_450.0), ("SOL", 140.0))
        for n in range(3)
    ]
    return history, live


def version_one(main: str, other: str, days: Calendar) -> dict[str, list[dict[str, Any]]]:
    return {
        main: [
            {
                "id": "b1",
                "at": noon(days.day(0), hours=-2),
                "type": "buy",
                "coin": "BTC",
                "quantity": 0.5,
                "price": "market",
                "fee": 10,
            },
            # between two closes: counts from the next day's close
            {
                "id": "e1",
                "at": noon(days.day(3), hours=3.5),
                "type": "buy",
                "coin": "ETH",
                "quantity": 4,
                "price": 2400,
                "fee": 5,
            },
            {
                "id": "s1",
                "at": noon(days.day(5)),
                "type": "buy",
                "coin": "SOL",
                "quantity": 30,
                "price": "market",
            },
            {
                "id": "b2",
                "at": noon(days.day(20), hours=1),
                "type": "buy",
                "coin": "BTC",
                "quantity": 0.25,
                "price": 65000,
                "fee": 7.5,
            },
            {
                "id": "x1",
                "at": noon(days.day(40), hours=-3),
                "type": "sell",
                "coin": "BTC",
                "quantity": 0.3,
                "price": "market",
                "fee": 4,
            },
            {
                "id": "e2",
                "at": noon(days.day(60), hours=1),
                "type": "sell",
                "coin": "ETH",
                "quantity": 1.5,
                "price": 2600,
                "fee": 2,
            },
            {
                "id": "t1",
                "at": noon(days.day(70), hours=-1),
                "type": "transfer_in",
                "coin": "SOL",
                "quantity": 10,
            },
            {
                "id": "t2",
                "at": noon(days.day(80), hours=2),
                "type": "transfer_out",
                "coin": "ETH",
                "quantity": 0.5,
                "fee": 1,
            },
            {
                "id": "s2",
                "at": noon(days.day(95), hours=-6),
                "type": "sell",
                "coin": "SOL",
                "quantity": 12.5,
                "price": "market",
                "fee": 0.5,
            },
        ],
        other: [
            {
                "id": "o1",
                "at": noon(days.day(90), hours=-1),
                "type": "buy",
                "coin": "BTC",
                "quantity": 1,
                "price": "market",
            },
            {
                "id": "o2",
                "at": noon(days.day(91), hours=5),
                "type": "buy",
                "coin": "ETH",
                "quantity": 2,
                "price": 2500,
            },
        ],
    }


def version_two(main: str, other: str, days: Calendar) -> dict[str, list[dict[str, Any]]]:
    """e1 changed (quantity and fee), x1 deleted, n1 added; the other portfolio unchanged."""
    edited = version_one(main, other, days)
    lines = [dict(entry) for entry in edited[main] if entry["id"] != "x1"]
    for entry in lines:
        if entry["id"] == "e1":
            entry.update(quantity=5, fee=6)
    lines.append(
        {
            "id": "n1",
            "at": noon(days.day(100), hours=-4),
            "type": "buy",
            "coin": "ETH",
            "quantity": 1,
            "price": "market",
            "fee": 3,
        }
    )
    edited[main] = lines
    return edited


def rows(client: Any, sql: str) -> list[dict[str, Any]]:
    result = client.query(sql)
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def same(actual: Any, expected: Any) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    if isinstance(expected, Decimal):
        return Decimal(actual) == expected
    return bool(math.isclose(actual, expected, rel_tol=REL, abs_tol=1e-9))


def publish(settings: Settings, path: Path, document: dict[str, list[dict[str, Any]]]) -> None:
    path.write_text(transactions_yaml(document))
    asyncio.run(publish_file(settings, path))


@pytest.fixture
def published(
    clickhouse: Any,
    kafka_feeder: Any,
    kafka_bootstrap: str,
    unique_name: Any,
    tmp_path: Path,
    days: Calendar,
) -> dict[str, Any]:
    history, live = prices(days)
    kafka_feeder.insert_values(
        "kafka_coins_historical", as_json(history_message(t) for t in history)
    )
    kafka_feeder.insert_values(
        "kafka_coins_current_full", as_json(current_full_message(t) for t in live)
    )
    # the topic the Kafka table reads; each test has its own portfolio names
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_partitions=2)
    topic = settings.topic_portfolio
    main, other = unique_name("main"), unique_name("other")
    path = tmp_path / "transactions.yaml"
    publish(settings, path, version_one(main, other, days))
    kafka_feeder.drain(topic, table=KAFKA_TABLE)
    publish(settings, path, version_two(main, other, days))
    kafka_feeder.drain(topic, table=KAFKA_TABLE)
    refresh_snapshots(clickhouse, PRICED)
    transactions = parse(transactions_yaml(version_two(main, other, days)))
    return {
        "bridge": kafka_feeder,
        "topic": topic,
        "main": main,
        "other": other,
        "reference": Reference(history, live, transactions, days.today),
    }


def check_everything(client: Any, reference: Reference, portfolios: list[str]) -> None:
    names = ", ".join(f"'{p}'" for p in portfolios)
    where = f"WHERE portfolio IN ({names})"
    # value per day and daily returns
    actual_values = rows(
        client,
        f"SELECT portfolio, day, value"
        f" FROM crypto.portfolio_value_daily {where}"
        f" ORDER BY portfolio, day",
    )
    expected_values = [
        (p, d, reference.value(p, d)) for p in sorted(portfolios) for d in reference.days(p)
    ]
    assert [(r["portfolio"], r["day"]) for r in actual_values] == [
        (p, d) for p, d, _ in expected_values
    ]
    for row, (_p, _d, value) in zip(actual_values, expected_values, strict=True):
        assert same(row["value"], value), row
    assert any(v is None for _p, _d, v in expected_values), "a held coin must miss a close"
    for portfolio in portfolios:
        actual = rows(
            client,
            f"SELECT day, value, return_pct, growth_index, drawdown_pct, max_drawdown_pct"
            f" FROM crypto.portfolio_returns_daily"
            f" WHERE portfolio = '{portfolio}'"
            f" ORDER BY day",
        )
        expected = reference.daily_returns(portfolio)
        drawdowns = reference.drawdowns(portfolio)
        assert [r["day"] for r in actual] == [d for d, *_ in expected]
        for row, (_d, value, r, index), (drawdown, deepest) in zip(
            actual, expected, drawdowns, strict=True
        ):
            assert same(row["value"], value)
            assert same(row["return_pct"], None if r is None else r * 100), row
            assert same(row["growth_index"], index), row
            assert same(row["drawdown_pct"], drawdown)
            assert same(row["max_drawdown_pct"], deepest)
        (performance,) = rows(
            client, f"SELECT * FROM crypto.portfolio_performance WHERE portfolio = '{portfolio}'"
        )
        for column, value in reference.performance(portfolio).items():
            assert same(performance[column], value), (portfolio, column, performance[column], value)
        positions = {
            r["code"]: r
            for r in rows(
                client, f"SELECT * FROM crypto.portfolio_positions WHERE portfolio = '{portfolio}'"
            )
        }
        ledger = reference.positions(portfolio)
        assert set(positions) == set(ledger)
        latest = {
            r["code"]: r["price"]
            for r in rows(
                client,
                f"SELECT code, price"
                f" FROM crypto.portfolio_allocation"
                f" WHERE portfolio = '{portfolio}'",
            )
        }
        for code, expected_position in ledger.items():
            for column, expected_figure in expected_position.items():
                assert same(positions[code][column], expected_figure), (portfolio, code, column)
            quantity = expected_position["quantity"]
            assert isinstance(quantity, Decimal)
            value_now = float(quantity) * latest[code] if quantity else 0.0
            cost = expected_position["cost_basis"]
            assert isinstance(cost, float)
            assert same(positions[code]["market_value"], value_now)
            assert same(positions[code]["unrealized_pnl"], value_now - cost)
        held = sorted(code for code, p in ledger.items() if p["quantity"])
        correlations = rows(
            client,
            f"SELECT window_days, code_a, code_b, days_in_window, correlation"
            f" FROM crypto.portfolio_correlation"
            f" WHERE portfolio = '{portfolio}'"
            f" ORDER BY ALL",
        )
        expected_matrix = [
            (window, a, b, *reference.correlation(portfolio, a, b, window))
            for window in (30, 90)
            for a in held
            for b in held
        ]
        assert [
            (r["window_days"], r["code_a"], r["code_b"], r["days_in_window"]) for r in correlations
        ] == [e[:4] for e in expected_matrix]
        for row, expected_row in zip(correlations, expected_matrix, strict=True):
            assert same(row["correlation"], expected_row[4]), row
        versus = rows(
            client,
            f"SELECT day, btc_only_value"
            f" FROM crypto.portfolio_vs_btc"
            f" WHERE portfolio = '{portfolio}'"
            f" ORDER BY day",
        )
        assert [r["day"] for r in versus] == [d for d, *_ in expected]
        for row in versus:
            assert same(row["btc_only_value"], reference.btc_only_value(portfolio, row["day"])), row


def test_every_figure_equals_the_reference_after_edits(
    clickhouse: Any, published: dict[str, Any]
) -> None:
    reference: Reference = published["reference"]
    ids = rows(
        clickhouse,
        f"SELECT transaction_id, quantity"
        f" FROM crypto.portfolio_transactions_current"
        f" WHERE portfolio = '{published['main']}'"
        f" ORDER BY transaction_id",
    )
    assert "x1" not in [r["transaction_id"] for r in ids], "a deleted line disappears"
    assert {r["transaction_id"]: r["quantity"] for r in ids}["e1"] == Decimal(5), (
        "a changed line replaces"
    )
    check_everything(clickhouse, reference, [published["main"], published["other"]])


def test_snapshots_hold_the_same_figures(clickhouse: Any, published: dict[str, Any]) -> None:
    refresh_snapshots(clickhouse)
    for view in (
        "portfolio_returns_daily",
        "portfolio_performance",
        "portfolio_positions",
        "portfolio_correlation",
        "portfolio_vs_btc",
    ):
        names = f"portfolio IN ('{published['main']}', '{published['other']}')"
        live = rows(clickhouse, f"SELECT * FROM crypto.{view} WHERE {names} ORDER BY ALL")
        kept = rows(clickhouse, f"SELECT * FROM crypto.{view}_snapshot WHERE {names} ORDER BY ALL")
        assert live, view
        assert len(live) == len(kept), view
        for a, b in zip(live, kept, strict=True):
            assert all(same(b[k], a[k]) if isinstance(a[k], float) else b[k] == a[k] for k in a), (
                view
            )


def test_duplicated_messages_change_nothing(
    clickhouse: Any, published: dict[str, Any], kafka_bootstrap: str
) -> None:
    names = f"portfolio IN ('{published['main']}', '{published['other']}')"
    before = rows(
        clickhouse, f"SELECT * FROM crypto.portfolio_returns_daily WHERE {names} ORDER BY ALL"
    )
    positions = rows(
        clickhouse, f"SELECT * FROM crypto.portfolio_positions WHERE {names} ORDER BY ALL"
    )
    # every message of both publications delivered again, in order (at-least-once delivery)
    ours = (f"{published['main']}/".encode(), f"{published['other']}/".encode())
    replay = [
        (key, value)
        for key, value in asyncio.run(
            read_topic(KafkaConnection(kafka_bootstrap), published["topic"])
        )
        if key is not None and key.startswith(ours) and value is not None
    ]
    assert len(replay) >= 13  # 11 lines, then 1 changed, 1 new and 1 deleted marker
    delivered = published["bridge"].insert_values(
        "kafka_portfolio_transactions",
        [value for _key, value in replay],
        keys=[key for key, _value in replay],
    )
    assert len(delivered) == len(replay)
    refresh_snapshots(clickhouse, PRICED)
    assert (
        rows(clickhouse, f"SELECT * FROM crypto.portfolio_returns_daily WHERE {names} ORDER BY ALL")
        == before
    )
    assert (
        rows(clickhouse, f"SELECT * FROM crypto.portfolio_positions WHERE {names} ORDER BY ALL")
        == positions
    )
    check_everything(clickhouse, published["reference"], [published["main"], published["other"]])
