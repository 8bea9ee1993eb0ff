"""Backfill progress, derived from what Kafka holds (never from a local file).

Two sources, both written only after acknowledgement:
- the compacted progress topic: one record per coin and currency with the covered days;
- the tail of every partition of the history topic: if a run died after its last range was
  acknowledged but before the progress record was, that range's points are the partition's
  last records (coins are backfilled one at a time), so they extend the coverage. Days of
  that range without a close were recorded as pending *before* its data was published, so
  extending the coverage never hides them.

The same compacted topic keeps what the backfill learned about the API's granularity (the
range length), keyed by the API it was learned from.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError

from producers.clock import DAY_MS, HOUR_MS, noon_ms, utc_day
from producers.kafka.connection import KafkaConnection
from producers.kafka.reader import read_topic
from producers.models import (
    RANGE_LENGTH_KEY_PREFIX,
    BackfillProgressMessage,
    PendingDaysMessage,
    RangeLengthMessage,
)
from producers.planner import Coverage, Gap, PendingReason

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoinProgress:
    coverage: Coverage | None
    # The newest point already on the history topic: never publish it (or older) again.
    published_through_ms: int | None = None
    # Days whose close is still missing although their range was asked: pending.
    gaps: tuple[Gap, ...] = ()
    # The coin's earliest published point (None: nothing published yet).
    first_point_ms: int | None = None


@dataclass(frozen=True)
class BackfillState:
    """Everything the progress topic says: per-coin progress and the learned range length."""

    coins: dict[str, CoinProgress]
    range_length: RangeLengthMessage | None = None


def gaps_to_wire(gaps: Iterable[Gap]) -> list[PendingDaysMessage]:
    return [
        PendingDaysMessage(
            from_ms=noon_ms(g.first_day), through_ms=noon_ms(g.last_day), reason=g.reason.value
        )
        for g in gaps
    ]


def gaps_from_wire(pending: Iterable[PendingDaysMessage]) -> tuple[Gap, ...]:
    gaps = []
    for item in pending:
        try:
            reason = PendingReason(item.reason)
        except ValueError:
            reason = PendingReason.NO_CLOSE  # written by a newer version: still pending
        gaps.append(Gap(utc_day(item.from_ms), utc_day(item.through_ms), reason))
    return tuple(gaps)


async def load_progress(
    connection: KafkaConnection,
    *,
    progress_topic: str,
    history_topic: str,
    coins: Iterable[str],
    currency: str,
    api: str | None = None,
) -> BackfillState:
    progress_records = await read_topic(connection, progress_topic)
    history_tails = [value for _key, value in await read_topic(connection, history_topic, tail=1)]
    return BackfillState(
        derive_progress(progress_records, history_tails, coins=coins, currency=currency),
        derive_range_length(progress_records, api) if api is not None else None,
    )


def derive_range_length(
    progress_records: Iterable[tuple[bytes | None, bytes | None]], api: str
) -> RangeLengthMessage | None:
    """The last range length learned from ``api``, if any run recorded one."""
    wanted = RangeLengthMessage.key_for(api)
    found: RangeLengthMessage | None = None
    for key, value in progress_records:
        if key != wanted:
            continue
        if value is None:
            found = None
            continue
        try:
            found = RangeLengthMessage.model_validate_json(value)
        except ValidationError as error:
            log.warning("ignoring an unreadable range-length record: %s", error)
    return found


def derive_progress(
    progress_records: Iterable[tuple[bytes | None, bytes | None]],
    history_tails: Iterable[bytes | None],
    *,
    coins: Iterable[str],
    currency: str,
) -> dict[str, CoinProgress]:
    """Progress per coin from the progress topic (in offset order) and the last record of
    each history partition."""
    wanted = set(coins)
    found: dict[str, CoinProgress] = {code: CoinProgress(None) for code in wanted}
    for key, value in progress_records:
        if key is not None and key.startswith(RANGE_LENGTH_KEY_PREFIX.encode()):
            continue
        _apply_progress(found, key, value, wanted, currency)
    for value in history_tails:
        _apply_history_tail(found, value, wanted, currency)
    return found


def _apply_progress(
    found: dict[str, CoinProgress],
    key: bytes | None,
    value: bytes | None,
    wanted: set[str],
    currency: str,
) -> None:
    if value is None:  # a tombstone: progress deliberately reset
        if key is not None:
            code, _, key_currency = key.decode(errors="replace").partition("/")
            if code in wanted and key_currency == currency:
                found[code] = CoinProgress(None)
        return
    try:
        message = BackfillProgressMessage.model_validate_json(value)
    except ValidationError as error:
        log.warning("ignoring an unreadable progress record: %s", error)
        return
    if message.code not in wanted or message.currency != currency:
        return
    first_point = message.first_point_ms
    if first_point is None and message.done_through_ms >= message.done_from_ms:
        # Written before the field existed: assume the coin has history, so a missing day is
        # kept pending rather than silently taken for a day before its listing.
        first_point = message.done_from_ms
    found[message.code] = CoinProgress(
        Coverage(utc_day(message.done_from_ms), utc_day(message.done_through_ms)),
        published_through_ms=message.done_through_ms,
        gaps=gaps_from_wire(message.pending),
        first_point_ms=first_point,
    )


def _apply_history_tail(
    found: dict[str, CoinProgress], value: bytes | None, wanted: set[str], currency: str
) -> None:
    try:
        point = json.loads(value or b"")
        code, point_currency = point["code"], point["currency"]
        timestamp = int(point["timestamp_ms"])
    except (ValueError, KeyError, TypeError):
        return
    if code not in wanted or point_currency != currency:
        return
    current = found[code]
    if current.coverage is None or timestamp <= current.coverage.last_noon_ms:
        # Without a progress record the start of coverage is unknown (the backfill pins it
        # before the first range, so this is another producer's data): ignore it.
        return
    # Points are published in time order and a partition keeps that order, so every point of
    # this coin up to ``timestamp`` is on the topic; its last complete close is the newest
    # 12:00 UTC at or before it.
    last_noon = (timestamp - 12 * HOUR_MS) // DAY_MS * DAY_MS + 12 * HOUR_MS
    coverage = Coverage(
        current.coverage.first_day, max(current.coverage.last_day, utc_day(last_noon))
    )
    first_point = current.first_point_ms
    found[code] = CoinProgress(
        coverage,
        published_through_ms=timestamp,
        gaps=current.gaps,
        first_point_ms=timestamp if first_point is None else min(first_point, timestamp),
    )
