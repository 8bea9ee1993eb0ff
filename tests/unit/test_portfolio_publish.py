"""What a publication sends: only changes; a deletion is a marker then a tombstone."""

from __future__ import annotations

import datetime as dt
import json

from portfolio.messages import decode
from portfolio.publish import plan_publication
from portfolio.transactions import parse
from producers.kafka.publisher import Record
from provisioning.contracts import example
from tests.support.contract_schema import assert_matches_contract

NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)

FILE = """\
portfolios:
  main:
    transactions:
      - {id: a, at: 2024-01-15T09:00:00Z, type: buy, coin: BTC, quantity: 0.25,
          price: 42750.5, fee: 12.5}
      - {id: b, at: 2024-02-01T13:30:00Z, type: buy, coin: ETH, quantity: 1}
"""


def topic_after(records: list[Record]) -> dict:  # type: ignore[type-arg]
    latest = {}
    for record in records:
        published = decode(record.key, record.payload)
        assert published is not None
        latest[published.key] = published
    return latest


def plan(text: str, published: dict, version: int = 1, prune: bool = False):  # type: ignore[no-untyped-def,type-arg]
    transactions = parse(text, now=NOW)
    names = sorted({t.portfolio for t in transactions} | {"main"})
    return plan_publication(
        transactions, names, published, topic="t", currency="USD", version_ms=version, prune=prune
    )


def test_a_message_has_exactly_the_contract_fields_and_types() -> None:
    records = plan(FILE, {}).records
    first = records[0]
    assert first.key == b"main/a"
    assert first.value is not None
    message = json.loads(first.value)
    contract = example("portfolio_transactions")
    assert_matches_contract("portfolio_transactions", [r.value for r in records if r.value])
    assert list(message) == list(contract)
    assert {k: type(v) for k, v in message.items()} == {k: type(v) for k, v in contract.items()}
    assert message["quantity"] == "0.25"
    assert message["timestamp_ms"] == 1705309200000


def test_republishing_the_same_file_sends_nothing() -> None:
    first = plan(FILE, {})
    assert (first.added, len(first.records)) == (2, 2)
    again = plan(FILE, topic_after(first.records), version=2)
    assert again.records == []
    assert again.unchanged == 2


def test_a_changed_line_replaces_and_a_deleted_line_gets_marker_then_tombstone() -> None:
    first = plan(FILE, {})
    edited = FILE.replace("quantity: 0.25", "quantity: 0.3").replace(
        "      - {id: b, at: 2024-02-01T13:30:00Z, type: buy, coin: ETH, quantity: 1}\n", ""
    )
    second = plan(edited, topic_after(first.records), version=2)
    assert (second.added, second.changed, second.deleted, second.unchanged) == (0, 1, 1, 0)
    changed, marker, tombstone = second.records
    assert changed.key == b"main/a"
    assert json.loads(changed.value)["quantity"] == "0.3"
    assert marker.key == tombstone.key == b"main/b"
    assert json.loads(marker.value)["deleted"] == 1
    assert_matches_contract("portfolio_transactions", [changed.value, marker.value])
    assert json.loads(marker.value)["version_ms"] == 2
    assert tombstone.payload is None
    # a later publication of the edited file: nothing more to send
    assert plan(edited, topic_after(first.records + second.records), version=3).records == []
    # a line that comes back after deletion is new again
    assert plan(FILE, topic_after(first.records + second.records), version=4).added == 1


def test_portfolios_the_file_does_not_name_are_left_alone_unless_pruned() -> None:
    other = FILE.replace("main:", "other:")
    published = topic_after(plan(other, {}).records)
    only_main = FILE
    assert plan(only_main, published).deleted == 0
    assert plan(only_main, published, prune=True).deleted == 2
