"""Read and validate a transactions file: JSON Schema first, then the rules a schema cannot say.

Every problem is reported with its position in the file (line and column, 1-based) and a
reason, and the whole file is refused: publishing half a portfolio would show wrong figures.
Rules beyond the schema: ids unique within a portfolio, a time ClickHouse stores (the ingest
rule of clickhouse/init/001: 2009-01-03 <= time < 2100-01-01 UTC) and not in the future, and
no sale or transfer out of more coins than the portfolio holds at that moment (transactions in
time order; at the same instant, in order of id, as the average-cost ledger in ClickHouse).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import jsonschema
import yaml

Kind = Literal["buy", "sell", "transfer_in", "transfer_out"]
OUTGOING: frozenset[str] = frozenset({"sell", "transfer_out"})
SCHEMA_FILE = "transactions.schema.json"
# The plausible-time rule every ClickHouse ingest path applies (clickhouse/init/001, 240, 241;
# tests/unit/test_portfolio_transactions.py checks the SQL says the same): a line outside it
# would be refused by ClickHouse after publishing, so the file check refuses it first.
EARLIEST_TIME = dt.datetime(2009, 1, 3, tzinfo=dt.UTC)
LATEST_TIME = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Transaction:
    portfolio: str
    transaction_id: str
    at: dt.datetime
    kind: Kind
    code: str
    quantity: Decimal
    price: float | None  # None = "market": the stored price at that time
    fee: float
    line: int

    @property
    def timestamp_ms(self) -> int:
        return int(self.at.timestamp() * 1000)

    @property
    def signed_quantity(self) -> Decimal:
        return -self.quantity if self.kind in OUTGOING else self.quantity


@dataclass(frozen=True)
class Problem:
    line: int
    column: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.reason}"


class TransactionFileError(ValueError):
    """The file was refused; ``problems`` says where and why."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        listing = "\n".join(f"  {source}: {problem}" for problem in problems)
        super().__init__(f"{source} refused ({len(problems)} problem(s)):\n{listing}")


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps date-times as text: the schema checks their form and zone."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@cache
def schema() -> dict[str, Any]:
    text = resources.files("portfolio").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _positions(
    node: yaml.Node, path: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], yaml.Node]]:
    yield path, node
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            yield from _positions(value_node, (*path, key_node.value))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _positions(item, (*path, index))


def _where(nodes: dict[tuple[Any, ...], yaml.Node], path: tuple[Any, ...]) -> tuple[int, int]:
    """Line and column (1-based) of the deepest node on ``path`` that exists."""
    for end in range(len(path), -1, -1):
        node = nodes.get(path[:end])
        if node is not None:
            return node.start_mark.line + 1, node.start_mark.column + 1
    return 1, 1


def _schema_reason(error: jsonschema.ValidationError) -> str:
    field = ".".join(str(p) for p in error.absolute_path) or "the file"
    if error.validator == "oneOf" and error.absolute_path and error.absolute_path[-1] == "price":
        return f'{field}: must be a positive number or "market", not {error.instance!r}'
    if error.validator == "pattern" and error.absolute_path and error.absolute_path[-1] == "at":
        return f"{field}: {error.instance!r} is not a UTC date-time like 2024-05-21T09:30:00Z"
    return f"{field}: {error.message}"


def parse(
    text: str, source: str = "<text>", *, now: dt.datetime | None = None
) -> list[Transaction]:
    """Every transaction of every portfolio, or TransactionFileError with all the problems."""
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise TransactionFileError(
            source, [Problem(line, column, f"not YAML: {error.problem}")]
        ) from None
    if root is None:
        raise TransactionFileError(source, [Problem(1, 1, "the file is empty")])
    nodes = dict(_positions(root))
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(
        validator.iter_errors(data), key=lambda e: _where(nodes, tuple(e.absolute_path))
    )
    if errors:
        problems = [
            Problem(*_where(nodes, tuple(e.absolute_path)), _schema_reason(e)) for e in errors
        ]
        raise TransactionFileError(source, problems)
    assert isinstance(data, dict)  # the schema says an object
    return _check_rules(data, nodes, source, now or dt.datetime.now(dt.UTC))


def _quantity(node: yaml.Node) -> Decimal:
    # From the text as written, so 0.1 is exactly 0.1 (a float would not be).
    try:
        return Decimal(str(node.value))
    except InvalidOperation as error:  # the schema already checked it is a number
        raise ValueError(f"not a quantity: {node.value!r}") from error


def _check_rules(
    data: dict[str, Any], nodes: dict[tuple[Any, ...], yaml.Node], source: str, now: dt.datetime
) -> list[Transaction]:
    problems: list[Problem] = []
    transactions: list[Transaction] = []
    for name, portfolio in data["portfolios"].items():
        seen: dict[str, int] = {}
        for index, entry in enumerate(portfolio["transactions"]):
            path = ("portfolios", name, "transactions", index)
            line, column = _where(nodes, path)
            at = dt.datetime.fromisoformat(entry["at"].replace("Z", "+00:00"))
            if entry["id"] in seen:
                problems.append(
                    Problem(
                        line,
                        column,
                        f"id {entry['id']!r} is already used on line {seen[entry['id']]} "
                        f"of portfolio {name!r}",
                    )
                )
                continue
            seen[entry["id"]] = line
            if not EARLIEST_TIME <= at < LATEST_TIME:
                problems.append(
                    Problem(
                        *_where(nodes, (*path, "at")),
                        f"at: {entry['at']} is not between {EARLIEST_TIME:%Y-%m-%d} and "
                        f"{LATEST_TIME:%Y-%m-%d} UTC",
                    )
                )
                continue
            if at > now:
                problems.append(
                    Problem(*_where(nodes, (*path, "at")), f"at: {entry['at']} is in the future")
                )
                continue
            price = entry.get("price", "market")
            transactions.append(
                Transaction(
                    portfolio=name,
                    transaction_id=entry["id"],
                    at=at,
                    kind=entry["type"],
                    code=entry["coin"],
                    quantity=_quantity(nodes[(*path, "quantity")]),
                    price=None if price == "market" else float(price),
                    fee=float(entry.get("fee", 0)),
                    line=line,
                )
            )
    problems += _oversells(transactions)
    if problems:
        raise TransactionFileError(source, sorted(problems, key=lambda p: (p.line, p.column)))
    return transactions


def _oversells(transactions: list[Transaction]) -> list[Problem]:
    problems = []
    held: dict[tuple[str, str], Decimal] = {}
    for txn in sorted(transactions, key=lambda t: (t.portfolio, t.at, t.transaction_id)):
        key = (txn.portfolio, txn.code)
        before = held.get(key, Decimal(0))
        after = before + txn.signed_quantity
        if after < 0:
            verb = "sells" if txn.kind == "sell" else "transfers out"
            problems.append(
                Problem(
                    txn.line,
                    1,
                    f"{txn.transaction_id}: {verb} {txn.quantity} {txn.code} at "
                    f"{txn.at.isoformat()} but portfolio {txn.portfolio!r} holds only "
                    f"{before} then",
                )
            )
            continue  # judge later lines as if this one were not there
        held[key] = after
    return problems


def load(path: Path) -> list[Transaction]:
    return parse(path.read_text(encoding="utf-8"), str(path))


def portfolios_of(text: str) -> list[str]:
    """The portfolio names a valid file declares (even those with no transaction)."""
    data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    return list(data["portfolios"])
