"""Transactions file: JSON Schema and rules, each refusal with its line and reason."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from portfolio.transactions import (
    EARLIEST_TIME,
    LATEST_TIME,
    TransactionFileError,
    parse,
    schema,
)

NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
REPO_ROOT = Path(__file__).resolve().parents[2]


def refused(text: str) -> list[tuple[int, str]]:
    with pytest.raises(TransactionFileError) as caught:
        parse(text, "t.yaml", now=NOW)
    return [(problem.line, problem.reason) for problem in caught.value.problems]


GOOD = """\
portfolios:
  main:
    transactions:
      - {id: a, at: "2024-01-15T09:00Z", type: buy, coin: BTC, quantity: 0.3, price: 42000, fee: 5}
      - id: b
        at: 2024-02-01T13:30:00+00:00
        type: buy
        coin: BTC
        quantity: 0.2
      - {id: c, at: 2024-03-01T10:00:00.250Z, type: sell, coin: BTC, quantity: 0.5, price: market}
  cold:
    transactions:
      - {id: a, at: 2024-01-20T00:00Z, type: transfer_in, coin: ETH, quantity: 2, fee: 1.5}
"""


def test_a_valid_file_gives_every_transaction_exactly() -> None:
    transactions = parse(GOOD, "t.yaml", now=NOW)
    assert [(t.portfolio, t.transaction_id, t.kind, t.line) for t in transactions] == [
        ("main", "a", "buy", 4),
        ("main", "b", "buy", 5),
        ("main", "c", "sell", 10),
        ("cold", "a", "transfer_in", 13),
    ]
    first, second, sell, transfer = transactions
    assert first.quantity == Decimal("0.3")
    assert first.price == 42000
    assert first.fee == 5
    assert second.price is None
    assert second.fee == 0
    assert sell.quantity == Decimal("0.5")  # 0.3 + 0.2 sold exactly: decimal, not float
    assert sell.at == dt.datetime(2024, 3, 1, 10, 0, 0, 250000, tzinfo=dt.UTC)
    assert sell.timestamp_ms == 1709287200250
    assert transfer.at == dt.datetime(2024, 1, 20, tzinfo=dt.UTC)


def test_a_sale_of_more_than_is_held_is_refused_with_its_line() -> None:
    text = GOOD.replace("quantity: 0.5, price: market", "quantity: 0.5000001, price: market")
    assert refused(text) == [
        (
            10,
            "c: sells 0.5000001 BTC at 2024-03-01T10:00:00.250000+00:00 but portfolio 'main' "
            "holds only 0.5 then",
        )
    ]


def test_holdings_are_judged_in_time_order_not_file_order() -> None:
    text = """\
portfolios:
  p:
    transactions:
      - {id: s, at: 2024-01-02T00:00:00Z, type: transfer_out, coin: SOL, quantity: 1}
      - {id: b, at: 2024-01-03T00:00:00Z, type: buy, coin: SOL, quantity: 1}
"""
    assert refused(text) == [
        (
            4,
            "s: transfers out 1 SOL at 2024-01-02T00:00:00+00:00 but portfolio 'p' holds "
            "only 0 then",
        )
    ]


def test_schema_errors_point_at_the_field() -> None:
    text = """\
portfolios:
  p:
    transactions:
      - {id: a, at: 2024-01-02T00:00:00Z, type: buy, coin: BTC, quantity: 1}
      - id: b
        at: 2024-01-02 10:00
        type: swap
        coin: btc
        quantity: -1
        price: cheap
        colour: red
"""
    problems = refused(text)
    lines = [line for line, _ in problems]
    assert lines == sorted(lines)
    reasons = dict(problems)
    assert "is not a UTC date-time" in reasons[6]
    assert "'swap' is not one of" in reasons[7]
    assert "portfolios.p.transactions.1.coin" in reasons[8]
    assert "quantity" in reasons[9]
    assert reasons[10] == (
        "portfolios.p.transactions.1.price: must be a positive number or \"market\", not 'cheap'"
    )
    assert any("colour" in reason for _, reason in problems)


@pytest.mark.parametrize(
    ("at", "why"),
    [
        ("2024-01-02T10:00:00+02:00", "is not a UTC date-time"),
        ("2024-01-02T10:00:00", "is not a UTC date-time"),
        ("2030-01-01T00:00:00Z", "is in the future"),
        ("2009-01-02T23:59:59.999Z", "is not between 2009-01-03 and 2100-01-01 UTC"),
        ("1970-01-01T00:00:00Z", "is not between 2009-01-03 and 2100-01-01 UTC"),
        ("2100-01-01T00:00:00Z", "is not between 2009-01-03 and 2100-01-01 UTC"),
    ],
)
def test_times_must_be_utc_and_past(at: str, why: str) -> None:
    text = (
        "portfolios:\n  p:\n    transactions:\n"
        f"      - {{id: a, at: '{at}', type: buy, coin: BTC, quantity: 1}}\n"
    )
    ((line, reason),) = refused(text)
    assert line == 4
    assert why in reason


def test_duplicate_ids_in_one_portfolio_are_refused() -> None:
    text = GOOD.replace("id: b", "id: a")
    assert refused(text) == [
        (5, "id 'a' is already used on line 4 of portfolio 'main'"),
        # the refused line does not count, so the later sale now exceeds what is held
        (
            10,
            "c: sells 0.5 BTC at 2024-03-01T10:00:00.250000+00:00 but portfolio 'main' "
            "holds only 0.3 then",
        ),
    ]


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ("", 1, "the file is empty"),
        ("portfolios: [unclosed\n", 2, "not YAML"),
        ("portfolio: {}\n", 1, "'portfolios' is a required property"),
    ],
)
def test_broken_files_are_refused(text: str, line: int, why: str) -> None:
    ((actual_line, _reason),) = [p for p in refused(text) if why in p[1]][:1]
    assert actual_line == line


def test_shipped_files_are_valid_and_schema_is_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    transactions = parse((REPO_ROOT / "portfolio" / "transactions.yaml").read_text(), now=NOW)
    assert {t.portfolio for t in transactions} == {"demo"}


def test_the_time_bounds_are_the_ones_clickhouse_applies() -> None:
    """One rule: the file check and every ClickHouse ingest path (the shared rejection function
    and the portfolio views) bound times by the same epoch milliseconds."""
    init = REPO_ROOT / "clickhouse" / "init"
    earliest = int(EARLIEST_TIME.timestamp() * 1000)
    latest = int(LATEST_TIME.timestamp() * 1000)
    for name in (
        "001_function_crypto_ingest_rejection.sql",
        "240_mv_portfolio_transactions.sql",
        "241_mv_errors_portfolio_transactions.sql",
    ):
        sql = (init / name).read_text()
        bound = rf"(?:\w+\.)?(\w+) >= {earliest} AND (?:\w+\.)?\1 < {latest}\b"
        assert re.search(bound, sql), name
    text = (
        "portfolios:\n  p:\n    transactions:\n"
        "      - {id: a, at: '2009-01-03T00:00:00Z', type: buy, coin: BTC, quantity: 1}\n"
    )
    (transaction,) = parse(text, "t.yaml", now=NOW)
    assert transaction.timestamp_ms == earliest
