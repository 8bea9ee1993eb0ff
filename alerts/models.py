"""What the alert service writes to Kafka (contracts/coins_alerts*.schema.json)."""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from pydantic import Field

from producers.models import SCHEMA_VERSION, Count, SchemaVersion, WireModel

DeliveryStatus = Literal["delivered", "dead_letter"]
# Three digits (RFC 9110 section 15); None when no answer came (refused, timed out).
HttpStatus = Annotated[int, Field(ge=100, le=999)]


def alert_id(rule_id: str, condition_hash: str, coin: str, event_time_ms: int) -> str:
    """Stable id: the same rule version, coin and triggering event give the same id in every
    run, so a restart that re-evaluates ticks recognises alerts it already published."""
    material = f"{rule_id}|{condition_hash}|{coin}|{event_time_ms}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def alert_key(rule_id: str, coin: str) -> bytes:
    return f"{rule_id}/{coin}".encode()


class AlertMessage(WireModel):
    """Value of a ``coins_alerts`` message, keyed ``<rule id>/<coin>``."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    alert_id: str
    rule_id: str
    rule_kind: str
    rules_version: Count
    coin: str
    event_time_ms: int
    fired_at_ms: int
    summary: str
    values: dict[str, float]
    source: str


class DeliveryMessage(WireModel):
    """Value of a ``coins_alerts_deliveries`` message: the outcome of one alert at one webhook."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    alert_id: str
    rule_id: str
    coin: str
    webhook: str
    webhook_kind: str
    status: DeliveryStatus
    attempts: Count
    http_status: HttpStatus | None = None
    reason: str
    event_time_ms: int
    finished_at_ms: int


class RuleState(WireModel):
    """Value of a ``coins_alerts_state`` record keyed ``state/<rule id>/<coin>``."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    rule_id: str
    coin: str
    condition_hash: str
    active: bool
    last_fired_ms: int | None = None
    last_event_ms: int | None = None


class Checkpoint(WireModel):
    """Value of the ``progress`` record, written after every state record of its checkpoint:
    the next tick offset per partition, each partition's newest event time there, and the end
    of the alerts topic once every alert up to these ticks was acknowledged."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    tick_offsets: dict[int, int]
    tick_event_ms: dict[int, int]
    alert_offsets: dict[int, int]
    rules_version: Count
    written_at_ms: int
