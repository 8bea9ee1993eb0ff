"""Portfolio test data: transactions files written as a user would, and their Kafka messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from portfolio.messages import content, encode, key_for
from portfolio.transactions import Transaction, parse


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def noon(day: dt.date, *, hours: float = 0.0) -> dt.datetime:
    """12:00 UTC of ``day`` shifted by ``hours`` (negative: before the close)."""
    return dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC) + dt.timedelta(hours=hours)


def transactions_yaml(portfolios: Mapping[str, Sequence[dict[str, Any]]]) -> str:
    """A transactions file in block style, one mapping per transaction."""
    lines = ["portfolios:"]
    for name, entries in portfolios.items():
        lines += [f"  {name}:", "    transactions:"]
        if not entries:
            lines[-1] += " []"
        for entry in entries:
            first = True
            for field, value in entry.items():
                text = iso(value) if isinstance(value, dt.datetime) else value
                lines.append(f"      {'- ' if first else '  '}{field}: {text}")
                first = False
    return "\n".join(lines) + "\n"


def parsed(portfolios: Mapping[str, Sequence[dict[str, Any]]]) -> list[Transaction]:
    return parse(transactions_yaml(portfolios), "test.yaml")


def portfolio_messages(
    transactions: Sequence[Transaction], *, version_ms: int, currency: str = "USD"
) -> tuple[list[str], list[bytes]]:
    """(values, keys) as ``coins-portfolio publish`` writes them for these transactions."""
    values = [encode(content(t, currency), version_ms).decode() for t in transactions]
    keys = [key_for(t.portfolio, t.transaction_id) for t in transactions]
    return values, keys


def sample_portfolio(today: dt.date, name: str = "sample") -> dict[str, list[dict[str, Any]]]:
    """A small portfolio over the golden scenario's coins (BTC, ETH, AAVE history)."""
    start = today - dt.timedelta(days=120)
    return {
        name: [
            {
                "id": "btc-1",
                "at": noon(start, hours=-2),
                "type": "buy",
                "coin": "BTC",
                "quantity": 0.5,
                "price": "market",
                "fee": 10,
            },
            {
                "id": "eth-1",
                "at": noon(start + dt.timedelta(days=3), hours=3),
                "type": "buy",
                "coin": "ETH",
                "quantity": 4,
                "price": 2400,
                "fee": 5,
            },
            {
                "id": "aave-1",
                "at": noon(start + dt.timedelta(days=10)),
                "type": "transfer_in",
                "coin": "AAVE",
                "quantity": 20,
            },
            {
                "id": "btc-2",
                "at": noon(start + dt.timedelta(days=50), hours=-5),
                "type": "sell",
                "coin": "BTC",
                "quantity": 0.2,
                "price": "market",
                "fee": 4,
            },
        ]
    }


def feed_sample_portfolio(feeder: Any, today: dt.date, *, name: str = "sample") -> None:
    """Insert ``sample_portfolio`` as Kafka messages into the portfolio Kafka table."""
    values, keys = portfolio_messages(parsed(sample_portfolio(today, name)), version_ms=1)
    feeder.insert_values("kafka_portfolio_transactions", values, keys=keys)
