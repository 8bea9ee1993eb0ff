"""The wire form of a transaction on the portfolio topic (contracts/portfolio_transactions.*).

Key: ``<portfolio>/<transaction id>`` (UTF-8), so compaction keeps one record per transaction.
Value: one JSON object; ``quantity`` is a decimal string (exact, ClickHouse reads it into a
Decimal), ``price`` is null for "market". A deleted transaction is published twice: once as
its last value with ``deleted = 1`` (ClickHouse's Kafka engine skips empty values, so only
this marker can tell it), then as a tombstone (null value) so compaction forgets the key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from portfolio.transactions import Kind, Transaction
from producers.models import SCHEMA_VERSION, Number, SchemaVersion, WireModel

# A positive decimal written out in full ("0.25", "100"): ClickHouse parses it into a Decimal.
DecimalText = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?$")]


class TransactionMessage(WireModel):
    """Value of a ``portfolio_transactions`` message, keyed ``<portfolio>/<transaction id>``."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    portfolio: str
    transaction_id: str
    kind: Kind
    code: str
    currency: str
    timestamp_ms: int
    quantity: DecimalText
    # None = "market": the stored price at that time.
    price: Annotated[Number, Field(gt=0)] | None = None
    fee: Annotated[Number, Field(ge=0)]
    # 1 marks a deleted transaction (published before its tombstone); ClickHouse's UInt8.
    deleted: Annotated[int, Field(ge=0, le=1)] = 0
    version_ms: int


def format_quantity(transaction: Transaction) -> str:
    text = format(transaction.quantity.normalize(), "f")
    return text


def key_for(portfolio: str, transaction_id: str) -> bytes:
    return f"{portfolio}/{transaction_id}".encode()


def content(transaction: Transaction, currency: str) -> dict[str, Any]:
    """Every field but the version: two publications with equal content change nothing."""
    return {
        "schema_version": SCHEMA_VERSION,
        "portfolio": transaction.portfolio,
        "transaction_id": transaction.transaction_id,
        "kind": transaction.kind,
        "code": transaction.code,
        "currency": currency,
        "timestamp_ms": transaction.timestamp_ms,
        "quantity": format_quantity(transaction),
        "price": transaction.price,
        "fee": transaction.fee,
        "deleted": 0,
    }


def encode(fields: dict[str, Any], version_ms: int) -> bytes:
    return TransactionMessage.model_validate({**fields, "version_ms": version_ms}).to_json_bytes()


@dataclass(frozen=True)
class Published:
    """The latest record of one key on the topic (None = tombstone or deleted marker)."""

    key: bytes
    fields: dict[str, Any] | None

    @property
    def live(self) -> bool:
        return self.fields is not None and not self.fields.get("deleted")


def decode(key: bytes | None, value: bytes | None) -> Published | None:
    """A record read back from the topic; None for records without a key (not ours)."""
    if key is None:
        return None
    if value is None:
        return Published(key, None)
    fields = json.loads(value)
    fields.pop("version_ms", None)
    return Published(key, fields)
