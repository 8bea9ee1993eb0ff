"""Rule state and progress, kept in Kafka: what a restart resumes from.

The compacted state topic holds one record per rule and coin (``state/<rule>/<coin>``) and a
``progress`` record (``alerts.models.Checkpoint``). A checkpoint writes the records of every
state that changed, then the progress record, to the topic's single partition, in order, after
the alerts up to that point were acknowledged. Reading back, records after the last progress
record belong to a checkpoint that did not finish and are ignored (their keys are rewritten by
the next checkpoint). Alerts published after the checkpoint are read from the alerts topic: a
replay recognises them by id instead of publishing them again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from alerts.edges import PairState
from alerts.models import AlertMessage, Checkpoint, RuleState
from alerts.rules import RuleSet
from producers.kafka.connection import KafkaConnection
from producers.kafka.publisher import Record
from producers.kafka.reader import read_topic

log = logging.getLogger(__name__)

PROGRESS_KEY = b"progress"
STATE_PREFIX = "state/"


def state_key(rule_id: str, coin: str) -> bytes:
    return f"{STATE_PREFIX}{rule_id}/{coin}".encode()


@dataclass
class Restored:
    states: dict[tuple[str, str], PairState] = field(default_factory=dict)
    checkpoint: Checkpoint | None = None
    unfinished_keys: set[tuple[str, str]] = field(default_factory=set)
    published_since: dict[str, AlertMessage] = field(default_factory=dict)
    dropped: int = 0


def _parse_state(value: bytes) -> RuleState | None:
    try:
        return RuleState.model_validate_json(value)
    except ValidationError as error:
        log.warning("ignoring an unreadable state record: %s", error)
        return None


def fold_records(records: Sequence[tuple[bytes | None, bytes | None]]) -> Restored:
    """The state as of the last complete checkpoint, from the topic's records in order."""
    restored = Restored()
    pending: dict[tuple[str, str], PairState | None] = {}
    for key, value in records:
        if key == PROGRESS_KEY and value is not None:
            try:
                restored.checkpoint = Checkpoint.model_validate_json(value)
            except ValidationError as error:
                log.warning("ignoring an unreadable progress record: %s", error)
                continue
            for pair, state in pending.items():
                if state is None:
                    restored.states.pop(pair, None)
                else:
                    restored.states[pair] = state
            pending.clear()
            continue
        if key is None or not key.startswith(STATE_PREFIX.encode()):
            continue
        rule_id, _, coin = key.decode()[len(STATE_PREFIX) :].partition("/")
        if value is None:
            pending[(rule_id, coin)] = None
            continue
        parsed = _parse_state(value)
        if parsed is not None:
            pending[(rule_id, coin)] = PairState(
                condition_hash=parsed.condition_hash,
                active=parsed.active,
                last_fired_ms=parsed.last_fired_ms,
                last_event_ms=parsed.last_event_ms,
            )
    restored.unfinished_keys = set(pending)
    return restored


def keep_current_rules(restored: Restored, rules: RuleSet) -> None:
    """Drop the states of rules that are gone or whose condition changed: those start afresh."""
    current = rules.by_id()
    for pair in list(restored.states):
        rule = current.get(pair[0])
        if rule is None or rule.condition_hash != restored.states[pair].condition_hash:
            del restored.states[pair]
            restored.dropped += 1


async def restore(
    connection: KafkaConnection, *, state_topic: str, alerts_topic: str, rules: RuleSet
) -> Restored:
    restored = fold_records(await read_topic(connection, state_topic))
    keep_current_rules(restored, rules)
    if restored.checkpoint is not None:
        for _key, value in await read_topic(
            connection, alerts_topic, start=restored.checkpoint.alert_offsets
        ):
            try:
                alert = AlertMessage.model_validate_json(value or b"")
            except ValidationError:
                continue
            restored.published_since[alert.alert_id] = alert
    return restored


def state_records(
    topic: str, states: dict[tuple[str, str], PairState], keys: set[tuple[str, str]]
) -> list[Record]:
    records = []
    for rule_id, coin in sorted(keys):
        state = states.get((rule_id, coin))
        if state is None:
            continue
        value = RuleState(
            rule_id=rule_id,
            coin=coin,
            condition_hash=state.condition_hash,
            active=state.active,
            last_fired_ms=state.last_fired_ms,
            last_event_ms=state.last_event_ms,
        ).to_json_bytes()
        records.append(Record(topic, state_key(rule_id, coin), value))
    return records
