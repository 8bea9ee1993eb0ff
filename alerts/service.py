"""The evaluator of ``coins alerts``: ticks in, alerts out, state checkpointed in Kafka.

One task reads every partition of the tick topic and is the only writer of rule state, so
live and scheduled rules never race. After each fetched batch its alerts are published and
acknowledged; at most every ``COINS_ALERTS_CHECKPOINT_INTERVAL_SECONDS`` the changed states
and the progress follow (``alerts/state.py``). On restart it resumes at the checkpoint's
offsets after a warm-up that re-reads the ticks of the longest window (windows, duplicate
filter and previous values are rebuilt, no rule is evaluated), then replays whatever came
after the checkpoint: the evaluation is deterministic, so the alerts it reproduces carry ids
already on the alerts topic and are not published twice; nothing after the checkpoint is
skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from alerts.edges import PairState
from alerts.live import Fired, LiveEvaluator, Tick
from alerts.models import AlertMessage, Checkpoint, alert_id, alert_key
from alerts.rules import RuleSet
from alerts.scheduled import ScheduledEvaluator
from alerts.settings import AlertSettings
from alerts.state import PROGRESS_KEY, Restored, restore, state_records
from producers.clock import Clock
from producers.kafka.connection import KafkaConnection
from producers.kafka.publisher import Publisher, Record
from producers.kafka.topics import topic_partitions
from producers.settings import Settings

log = logging.getLogger(__name__)

MAX_RECORDS_PER_FETCH = 5_000


@dataclass
class ServiceStats:
    ticks_evaluated: int = 0
    ticks_warmed: int = 0
    duplicates: int = 0
    alerts_published: int = 0
    alerts_recognised: int = 0
    checkpoints: int = 0
    # Rounds of the indicator and pipeline rules that read ClickHouse and published what they
    # fired (a round ClickHouse failed is not counted).
    scheduled_rounds: int = 0


def parse_tick(value: bytes | None) -> Tick | None:
    """A tick from a ``coins_current_full`` value; None for anything unusable (the producers
    dead-letter malformed data; ClickHouse counts what reaches it)."""
    try:
        data = json.loads(value or b"")
        return Tick(
            coin=str(data["code"]),
            ts=int(data["timestamp_ms"]),
            rate=float(data["rate"]),
            currency=str(data.get("currency") or ""),
            source=str(data.get("source") or ""),
        )
    except (ValueError, KeyError, TypeError):
        return None


def make_alert(fired: Fired, rules_version: int, fired_at_ms: int) -> AlertMessage:
    rule = fired.rule
    return AlertMessage(
        alert_id=alert_id(rule.id, rule.condition_hash, fired.coin, fired.event_ms),
        rule_id=rule.id,
        rule_kind=rule.kind,
        rules_version=rules_version,
        coin=fired.coin,
        event_time_ms=fired.event_ms,
        fired_at_ms=fired_at_ms,
        summary=fired.summary,
        values=fired.values,
        source=fired.source,
    )


class AlertEvaluatorService:
    def __init__(
        self,
        *,
        settings: Settings,
        alert_settings: AlertSettings,
        rules: RuleSet,
        publisher: Publisher,
        clock: Clock,
        stop: asyncio.Event,
        clickhouse: Any | None = None,
        ready: asyncio.Event | None = None,
        stats: ServiceStats | None = None,
    ) -> None:
        self._settings = settings
        self._alert_settings = alert_settings
        self._rules = rules
        self._publisher = publisher
        self._clock = clock
        self._stop = stop
        self._clickhouse = clickhouse
        self.ready = ready or asyncio.Event()
        self.stats = stats if stats is not None else ServiceStats()
        self._connection = KafkaConnection.from_settings(settings)
        self._recognised: set[str] = set()
        self._extra_dirty: set[tuple[str, str]] = set()

    # --- restore -------------------------------------------------------------------------------
    def _fold_scheduled(self, restored: Restored) -> None:
        """Alerts of scheduled rules published after the checkpoint set their rule's state
        directly (those rules are not replayed from ticks)."""
        rules = self._rules.by_id()
        for alert in restored.published_since.values():
            rule = rules.get(alert.rule_id)
            if rule is None or rule.is_live:
                continue
            if alert_id(rule.id, rule.condition_hash, alert.coin, alert.event_time_ms) != (
                alert.alert_id
            ):
                continue  # fired by an earlier version of the rule
            state = restored.states.setdefault(
                (rule.id, alert.coin), PairState(rule.condition_hash)
            )
            state.active = rule.kind in ("drawdown", "no_tick", "ingest_errors")
            state.last_fired_ms = alert.event_time_ms
            state.last_event_ms = max(state.last_event_ms or 0, alert.event_time_ms)
            self._extra_dirty.add((rule.id, alert.coin))

    # --- publishing ----------------------------------------------------------------------------
    async def _publish(self, fired: Sequence[Fired]) -> None:
        if not fired:
            return
        now = self._clock.now_ms()
        records = []
        for event in fired:
            alert = make_alert(event, self._rules.version, now)
            if alert.alert_id in self._recognised:
                self._recognised.discard(alert.alert_id)
                self.stats.alerts_recognised += 1
                continue
            records.append(
                Record(
                    self._alert_settings.topic_alerts,
                    alert_key(alert.rule_id, alert.coin),
                    alert.to_json_bytes(),
                )
            )
            log.info(
                "alert",
                extra={
                    "fields": {
                        "rule": alert.rule_id,
                        "coin": alert.coin,
                        "id": alert.alert_id,
                        "summary": alert.summary,
                    }
                },
            )
        await self._publisher.publish(records)
        self.stats.alerts_published += len(records)

    async def _checkpoint(
        self,
        consumer: AIOKafkaConsumer,
        dirty: set[tuple[str, str]],
        states: dict[tuple[str, str], PairState],
        next_offsets: dict[int, int],
        event_ms: dict[int, int],
    ) -> None:
        alert_partitions = [
            TopicPartition(self._alert_settings.topic_alerts, p)
            for p in await topic_partitions(self._connection, self._alert_settings.topic_alerts)
        ]
        ends = await consumer.end_offsets(alert_partitions)
        checkpoint = Checkpoint(
            tick_offsets=dict(next_offsets),
            tick_event_ms=dict(event_ms),
            alert_offsets={tp.partition: offset for tp, offset in ends.items()},
            rules_version=self._rules.version,
            written_at_ms=self._clock.now_ms(),
        )
        topic = self._alert_settings.topic_state
        records = state_records(topic, states, dirty)
        records.append(Record(topic, PROGRESS_KEY, checkpoint.to_json_bytes()))
        await self._publisher.publish(records)
        dirty.clear()
        self.stats.checkpoints += 1

    def _heartbeat(self) -> None:
        path: Path | None = self._alert_settings.heartbeat_file
        if path is not None:
            try:
                path.touch()
            except OSError as error:
                log.warning("cannot touch the heartbeat file %s: %s", path, error)

    # --- the loop ------------------------------------------------------------------------------
    async def run(self) -> ServiceStats:
        settings, alert_settings = self._settings, self._alert_settings
        restored = await restore(
            self._connection,
            state_topic=alert_settings.topic_state,
            alerts_topic=alert_settings.topic_alerts,
            rules=self._rules,
        )
        self._recognised = set(restored.published_since)
        self._fold_scheduled(restored)
        states = restored.states
        live = LiveEvaluator(self._rules.live, settings.coins, states)
        scheduled = None
        if self._rules.scheduled:
            if self._clickhouse is None:
                log.warning(
                    "%d indicator/pipeline rules are not evaluated: set COINS_CLICKHOUSE_URL",
                    len(self._rules.scheduled),
                )
            else:
                scheduled = ScheduledEvaluator(
                    self._rules.scheduled, settings.coins, states, self._clickhouse
                )
        rules_by_id = self._rules.by_id()
        for rule_id, coin in restored.unfinished_keys:
            # no state before the cut-short checkpoint: overwrite its record with a fresh one
            if (rule_id, coin) not in states and rule_id in rules_by_id:
                states[(rule_id, coin)] = PairState(rules_by_id[rule_id].condition_hash)
        dirty = set(restored.unfinished_keys) | self._extra_dirty
        log.info(
            "alert rules loaded",
            extra={
                "fields": {
                    "rules_version": self._rules.version,
                    "live_rules": len(self._rules.live),
                    "scheduled_rules": len(self._rules.scheduled),
                    "states_restored": len(states),
                    "states_reset": restored.dropped,
                    "alerts_after_checkpoint": len(restored.published_since),
                }
            },
        )
        consumer = AIOKafkaConsumer(
            **self._connection.client_options(),
            enable_auto_commit=False,
            isolation_level="read_committed",
            fetch_max_wait_ms=alert_settings.fetch_max_wait_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await consumer.start()
        try:
            await self._loop(consumer, live, scheduled, states, dirty, restored)
        finally:
            await consumer.stop()
        self.stats.duplicates = live.duplicates
        return self.stats

    async def _loop(
        self,
        consumer: AIOKafkaConsumer,
        live: LiveEvaluator,
        scheduled: ScheduledEvaluator | None,
        states: dict[tuple[str, str], PairState],
        dirty: set[tuple[str, str]],
        restored: Restored,
    ) -> None:
        settings, alert_settings = self._settings, self._alert_settings
        tick_topic = settings.topic_current
        partitions = [
            TopicPartition(tick_topic, p)
            for p in await topic_partitions(self._connection, tick_topic)
        ]
        consumer.assign(partitions)
        end = await consumer.end_offsets(partitions)
        now = self._clock.now_ms()
        checkpoint = restored.checkpoint
        resume = {
            tp.partition: (
                checkpoint.tick_offsets.get(tp.partition, end[tp]) if checkpoint else end[tp]
            )
            for tp in partitions
        }
        event_ms = {
            tp.partition: (checkpoint.tick_event_ms.get(tp.partition, now) if checkpoint else now)
            for tp in partitions
        }
        next_offsets = dict(resume)
        if checkpoint is None:
            # A first start evaluates from the end of the topic; record that at once, so a
            # crash before the first regular checkpoint resumes here rather than at the end.
            await self._checkpoint(consumer, dirty, states, next_offsets, event_ms)
        lookback_ms = live.max_window_ms + int(alert_settings.warmup_margin_seconds * 1000)
        starts: dict[TopicPartition, int] = {tp: resume[tp.partition] for tp in partitions}
        if live.max_window_ms > 0:
            found = await consumer.offsets_for_times(
                {tp: max(0, event_ms[tp.partition] - lookback_ms) for tp in partitions}
            )
            for tp, answer in found.items():
                if answer is not None:
                    starts[tp] = min(answer.offset, resume[tp.partition])
        for tp in partitions:
            consumer.seek(tp, starts[tp])
        log.info(
            "evaluating live rules",
            extra={
                "fields": {
                    "topic": tick_topic,
                    "resume": json.dumps(resume),
                    "warmup_from": json.dumps({tp.partition: o for tp, o in starts.items()}),
                }
            },
        )
        self.ready.set()
        last_checkpoint = self._clock.now_ms()
        last_schedule: int | None = None
        schedule_ms = int(alert_settings.schedule_interval_seconds * 1000)
        checkpoint_ms = int(alert_settings.checkpoint_interval_seconds * 1000)
        progressed = False
        while not self._stop.is_set():
            batches = await consumer.getmany(
                timeout_ms=alert_settings.fetch_max_wait_ms, max_records=MAX_RECORDS_PER_FETCH
            )
            fired: list[Fired] = []
            for tp, messages in batches.items():
                partition = tp.partition
                boundary = resume[partition]
                for message in messages:
                    tick = parse_tick(message.value)
                    if message.offset < boundary:
                        if tick is not None:
                            live.warm(tick)
                            self.stats.ticks_warmed += 1
                        continue
                    if tick is not None:
                        fired.extend(live.evaluate(tick))
                        event_ms[partition] = max(event_ms[partition], tick.ts)
                        self.stats.ticks_evaluated += 1
                    next_offsets[partition] = message.offset + 1
                    progressed = True
            await self._publish(fired)
            now = self._clock.now_ms()
            if scheduled is not None and (
                last_schedule is None or now - last_schedule >= schedule_ms
            ):
                last_schedule = now
                evaluated = True
                try:
                    scheduled_fired = await asyncio.to_thread(scheduled.evaluate, now)
                except Exception as error:  # ClickHouse down or still starting: next round
                    log.warning(
                        "indicator and pipeline rules skipped this round: ClickHouse failed: %s",
                        type(error).__name__ if not str(error) else str(error).splitlines()[0],
                    )
                    scheduled_fired, evaluated = [], False
                await self._publish(scheduled_fired)
                if evaluated:
                    self.stats.scheduled_rounds += 1
                dirty |= scheduled.dirty
                scheduled.dirty.clear()
                if scheduled_fired:
                    last_checkpoint = -checkpoint_ms  # checkpoint now
            dirty |= live.dirty
            live.dirty.clear()
            if (dirty or progressed) and now - last_checkpoint >= checkpoint_ms:
                await self._checkpoint(consumer, dirty, states, next_offsets, event_ms)
                last_checkpoint, progressed = now, False
            self._heartbeat()
        dirty |= live.dirty
        await self._checkpoint(consumer, dirty, states, next_offsets, event_ms)
        self.stats.duplicates = live.duplicates
