"""What the API sends and what goes on the wire.

The wire models are the contracts: ``make contracts`` writes each topic's JSON Schema
(``contracts/<topic>.schema.json``) from them, and golden tests compare their output with the
example messages (``contracts/<topic>.example.json``): lower-case snake_case, UTC epoch
milliseconds in ``*_ms`` fields, float64 numbers, null for absent values (the default of every
nullable field, so a message is built from what is known).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 1

# Finite float64 values only: JSON has no NaN/Infinity and ClickHouse would reject them.
Number = Annotated[float, Field(allow_inf_nan=False)]
# Counts fit ClickHouse's UInt32; a larger one from the API is malformed and dead-lettered.
Count = Annotated[int, Field(ge=0, le=4_294_967_295)]
# Bumped on any incompatible change of a message; ClickHouse stores it as UInt16.
SchemaVersion = Annotated[int, Field(ge=1, le=65_535)]


class _ApiModel(BaseModel):
    # The API may add fields at any time; unknown ones are ignored rather than fatal.
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class ApiDelta(_ApiModel):
    hour: Number | None = None
    day: Number | None = None
    week: Number | None = None
    month: Number | None = None
    quarter: Number | None = None
    year: Number | None = None


class ApiCoin(_ApiModel):
    """One coin of ``/coins/map`` with ``meta: true``. Only ``code`` and ``rate`` are required."""

    code: Annotated[str, Field(min_length=1, max_length=64)]
    rate: Annotated[float, Field(allow_inf_nan=False, ge=0)]
    volume: Number | None = None
    cap: Number | None = None
    liquidity: Number | None = None
    delta: ApiDelta | None = None
    name: str | None = None
    symbol: str | None = None
    rank: Count | None = None
    age: Count | None = None
    color: str | None = None
    png32: str | None = None
    png64: str | None = None
    webp32: str | None = None
    webp64: str | None = None
    exchanges: Count | None = None
    markets: Count | None = None
    pairs: Count | None = None
    all_time_high_usd: Number | None = Field(default=None, alias="allTimeHighUSD")
    circulating_supply: Number | None = Field(default=None, alias="circulatingSupply")
    total_supply: Number | None = Field(default=None, alias="totalSupply")
    max_supply: Number | None = Field(default=None, alias="maxSupply")
    categories: list[str] | None = None


class ApiHistoryPoint(_ApiModel):
    date: Annotated[int, Field(ge=0)]
    rate: Annotated[float, Field(allow_inf_nan=False, ge=0)]
    volume: Number | None = None
    cap: Number | None = None
    liquidity: Number | None = None


class WireModel(BaseModel):
    """A message value on a topic: unknown fields are refused, and the JSON Schema lists every
    field as required because ``to_json_bytes`` always writes every field (null included)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_serialization_defaults_required=True
    )

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")


class PricePoint(WireModel):
    """The fields a live tick and a history point share, first in both messages."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    source: str
    code: str
    currency: str
    timestamp_ms: int
    rate: float
    volume: float | None = None
    cap: float | None = None
    liquidity: float | None = None


class CurrentMessage(PricePoint):
    """Value of a ``coins_current_full`` message (contracts/coins_current_full.schema.json)."""

    delta_hour: float | None = None
    delta_day: float | None = None
    delta_week: float | None = None
    delta_month: float | None = None
    delta_quarter: float | None = None
    delta_year: float | None = None
    name: str | None = None
    symbol: str | None = None
    rank: Count | None = None
    age: Count | None = None
    color: str | None = None
    png32: str | None = None
    png64: str | None = None
    webp32: str | None = None
    webp64: str | None = None
    exchanges: Count | None = None
    markets: Count | None = None
    pairs: Count | None = None
    all_time_high_usd: float | None = None
    circulating_supply: float | None = None
    total_supply: float | None = None
    max_supply: float | None = None
    categories: list[str] | None = None

    @classmethod
    def from_api(
        cls, coin: ApiCoin, *, source: str, currency: str, timestamp_ms: int
    ) -> CurrentMessage:
        delta = coin.delta or ApiDelta()
        # what the coin sends under the message's own names (volume ... categories)
        same_names = coin.model_dump(include=set(cls.model_fields) & set(type(coin).model_fields))
        return cls(
            source=source,
            currency=currency,
            timestamp_ms=timestamp_ms,
            **same_names,
            **{f"delta_{period}": change for period, change in delta.model_dump().items()},
        )


class HistoricalMessage(PricePoint):
    """Value of a ``coins_historical`` message (contracts/coins_historical.schema.json)."""

    @classmethod
    def from_api(
        cls, point: ApiHistoryPoint, *, code: str, source: str, currency: str
    ) -> HistoricalMessage:
        # what the point sends under the message's own names (rate, volume, cap, liquidity)
        prices = point.model_dump(include=set(cls.model_fields) & set(type(point).model_fields))
        return cls(source=source, code=code, currency=currency, timestamp_ms=point.date, **prices)


class DeadLetterMessage(WireModel):
    """Value of a ``coins_dead_letter`` message (contracts/coins_dead_letter.schema.json)."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    source: str
    intended_topic: str
    code: str
    error: str
    raw: str
    failed_at_ms: int


class PendingDaysMessage(WireModel):
    """Closes ``from_ms``..``through_ms`` (12:00 UTC, inclusive) still to fetch, and why."""

    from_ms: int
    through_ms: int
    reason: str


class BackfillProgressMessage(WireModel):
    """Value of the compacted progress topic, keyed ``CODE/CURRENCY``: every point from the
    close before ``done_from_ms`` (exclusive) to the close ``done_through_ms`` (inclusive) is
    published and acknowledged on the history topic. Written only after that acknowledgement."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    code: str
    currency: str
    done_from_ms: int
    done_through_ms: int
    updated_at_ms: int
    # Days inside (or just beyond) the done interval whose close is NOT published: pending.
    pending: list[PendingDaysMessage] = Field(default_factory=list)
    # The coin's earliest published point: a day missing before it predates the listing.
    first_point_ms: int | None = None

    @staticmethod
    def key_for(code: str, currency: str) -> bytes:
        return f"{code}/{currency}".encode()


class RangeLengthMessage(WireModel):
    """What the backfill learned about the API's history granularity, on the progress topic
    under ``range-length/<api>``: the longest range (days) whose answer kept every 12:00 UTC
    point, and the shortest that did not. It depends on the API only (its thinning rule), not
    on the coin or the currency, so every run and coin against that API shares it."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    api: str
    good_days: int
    bad_days: int | None = None
    updated_at_ms: int

    @staticmethod
    def key_for(api: str) -> bytes:
        return f"{RANGE_LENGTH_KEY_PREFIX}{api}".encode()


RANGE_LENGTH_KEY_PREFIX = "range-length/"


def raw_json(payload: Any) -> str:
    """The payload as compact JSON text, for a dead letter's ``raw`` field."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)


def describe_validation_error(error: ValidationError) -> str:
    """A short, stable description: ``field: message`` per problem, no input echo."""
    parts = []
    for problem in error.errors(include_url=False, include_input=False):
        location = ".".join(str(item) for item in problem["loc"]) or "<root>"
        parts.append(f"{location}: {problem['msg']}")
    return "; ".join(parts)
