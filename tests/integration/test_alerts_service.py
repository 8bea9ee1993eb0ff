"""``coins alerts`` against the real Kafka broker and a real HTTP receiver on 127.0.0.1.

The reference for "none missed, none twice" is one uninterrupted in-memory run of the same
evaluator over the clean tick series: a service that is stopped, killed and restarted while
ticks keep arriving, and that also receives duplicated and late ticks, must publish exactly
that set of alerts, each once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from alerts.cli import AlertsRun, run_alerts
from alerts.models import AlertMessage, Checkpoint, DeliveryMessage
from alerts.rules import RuleSet
from alerts.settings import AlertSettings, WebhookConfig
from alerts.state import PROGRESS_KEY
from embedded.clickhouse import end_offsets
from producers.kafka.connection import KafkaConnection
from producers.kafka.publisher import KafkaPublisher, Record
from producers.kafka.reader import read_topic
from producers.models import DeadLetterMessage
from producers.settings import Settings
from tests.support.alert_ticks import (
    BASES,
    expected_alert_ids,
    per_coin_rules,
    rules_document,
    tick_series,
    tick_value,
    with_bad_ticks,
    write_rules,
)
from tests.support.contract_schema import assert_matches_contract
from tests.support.waiting import eventually_async
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver

pytestmark = [pytest.mark.kafka]

WAIT_S = 90.0


class Harness:
    """Runs ``coins alerts`` as a task that can be stopped, killed and started again."""

    def __init__(self, bootstrap: str, name: Callable[[str], str], rules_file: Path) -> None:
        self.bootstrap = bootstrap
        self.settings = Settings(
            kafka_bootstrap_servers=bootstrap,
            coins=tuple(BASES),
            topic_current=name("ticks"),
            topic_historical=name("history"),
            topic_dead_letter=name("dead"),
            topic_backfill_progress=name("progress"),
            topic_partitions=3,
        )
        self.alert_settings = AlertSettings(
            rules_file=rules_file,
            topic_alerts=name("alerts"),
            topic_state=name("state"),
            topic_deliveries=name("deliveries"),
            consumer_group=name("delivery"),
            checkpoint_interval_seconds=0.3,
            heartbeat_file=None,
            delivery_attempts=40,
            delivery_initial_seconds=0.05,
            delivery_max_seconds=0.3,
        )
        self.publisher = KafkaPublisher(KafkaConnection(bootstrap_servers=bootstrap))
        self.task: asyncio.Task[AlertsRun] | None = None
        self.stop = asyncio.Event()

    def with_webhooks(self, *hooks: WebhookConfig) -> None:
        self.alert_settings = self.alert_settings.model_copy(update={"webhooks": list(hooks)})

    async def start(self, rules: RuleSet) -> None:
        self.stop = asyncio.Event()
        ready = asyncio.Event()
        self.task = asyncio.ensure_future(
            run_alerts(self.settings, self.alert_settings, rules, stop=self.stop, ready=ready)
        )
        waiter = asyncio.ensure_future(ready.wait())
        await asyncio.wait({waiter, self.task}, timeout=WAIT_S, return_when="FIRST_COMPLETED")
        if self.task.done():
            self.task.result()
        assert ready.is_set(), "the alert service did not start"

    async def stop_cleanly(self) -> AlertsRun:
        assert self.task is not None
        self.stop.set()
        return await asyncio.wait_for(self.task, WAIT_S)

    async def kill(self) -> None:
        """Cancel the service mid-flight: no final checkpoint, like a killed process."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def publish_ticks(
        self, ticks: list[Any], pause_every: int = 0, halfway: asyncio.Event | None = None
    ) -> None:
        """Publish ``ticks``, ``pause_every`` at a time with a pause in between; ``halfway`` is
        set once half of them are on the topic."""
        topic = self.settings.topic_current
        for first in range(0, len(ticks), pause_every or len(ticks)):
            if halfway is not None and first >= len(ticks) // 2:
                halfway.set()
            chunk = ticks[first : first + (pause_every or len(ticks))]
            await self.publisher.publish(
                [Record(topic, t.tick.coin.encode(), tick_value(t.tick)) for t in chunk]
            )
            if pause_every:
                await asyncio.sleep(0.05)

    async def wait_checkpointed(self) -> Checkpoint:
        """Until the newest checkpoint has evaluated every tick on the topic."""
        tick_ends = await end_offsets(KafkaConnection(self.bootstrap), self.settings.topic_current)
        ends = {tp.partition: end for tp, end in tick_ends.items()}

        async def newest_checkpoint() -> Checkpoint | None:
            if self.task is not None and self.task.done():
                self.task.result()  # a service that failed fails the test at once
            progress = [
                r
                for r in await read_topic(
                    KafkaConnection(self.bootstrap), self.alert_settings.topic_state
                )
                if r.key == PROGRESS_KEY
            ]
            return Checkpoint.model_validate_json(progress[-1].value or b"") if progress else None

        def covers_every_tick(checkpoint: Checkpoint | None) -> bool:
            return checkpoint is not None and all(
                checkpoint.tick_offsets.get(p, 0) >= end for p, end in ends.items()
            )

        found = await eventually_async(
            newest_checkpoint,
            until=covers_every_tick,
            within=WAIT_S,
            what=f"a checkpoint past every tick on the topic {ends}",
            interval=0.2,
        )
        assert found is not None
        return found

    async def alerts(self) -> list[AlertMessage]:
        records = await read_topic(
            KafkaConnection(self.bootstrap), self.alert_settings.topic_alerts
        )
        if records:
            assert_matches_contract("coins_alerts", [r.value or b"" for r in records])
        return [AlertMessage.model_validate_json(r.value or b"") for r in records]

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            await self.kill()
        await self.publisher.close()


@pytest.fixture
async def harness(kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path) -> Any:
    made = Harness(kafka_bootstrap, unique_name, tmp_path / "rules.yaml")
    yield made
    await made.close()


def _ids(alerts: list[AlertMessage]) -> list[str]:
    return [alert.alert_id for alert in alerts]


async def test_restart_and_kill_mid_stream_fire_every_alert_exactly_once(harness: Harness) -> None:
    rules = write_rules(harness.alert_settings.rules_file, per_coin_rules(rules_document()))
    clean = tick_series(360, end_ms=int(time.time() * 1000))
    sent = with_bad_ticks(clean)
    expected = expected_alert_ids(rules, clean)
    assert len(expected) >= 20, "the series must make the rules fire many times"
    thirds = len(sent) // 3

    await harness.start(rules)
    await harness.publish_ticks(sent[:thirds])
    await harness.wait_checkpointed()
    await harness.stop_cleanly()  # a clean restart

    await harness.start(rules)
    halfway = asyncio.Event()
    publishing = asyncio.ensure_future(
        harness.publish_ticks(sent[thirds : 2 * thirds], 25, halfway=halfway)
    )
    await asyncio.wait_for(halfway.wait(), WAIT_S)
    await harness.kill()  # killed while ticks are arriving
    await publishing

    await harness.start(rules)
    await harness.publish_ticks(sent[2 * thirds :], 50)
    await harness.wait_checkpointed()
    await harness.stop_cleanly()

    published = _ids(await harness.alerts())
    assert len(published) == len(set(published)), "an alert was published twice"
    assert sorted(published) == sorted(expected), "alerts missing or invented"


async def test_duplicated_and_late_ticks_create_no_alert(harness: Harness) -> None:
    rules = write_rules(harness.alert_settings.rules_file, per_coin_rules(rules_document()))
    clean = tick_series(120, end_ms=int(time.time() * 1000), seed=3)
    sent = with_bad_ticks(clean, seed=5)
    assert sum(t.duplicate for t in sent) >= 20

    await harness.start(rules)
    await harness.publish_ticks(sent)
    await harness.wait_checkpointed()
    run = await harness.stop_cleanly()

    assert run.stats.duplicates == sum(t.duplicate for t in sent)
    assert _ids(await harness.alerts()) == expected_alert_ids(rules, clean)


async def test_rules_change_on_restart_refires_nothing_and_evaluates_new_rules(
    harness: Harness,
) -> None:
    first = per_coin_rules(rules_document(version=1))
    rules = write_rules(harness.alert_settings.rules_file, first)
    clean = tick_series(240, end_ms=int(time.time() * 1000), seed=9)
    before, after = clean[: len(clean) // 2], clean[len(clean) // 2 :]

    await harness.start(rules)
    await harness.publish_ticks([_sent(t) for t in before])
    await harness.wait_checkpointed()
    await harness.stop_cleanly()
    fired_before = _ids(await harness.alerts())
    assert fired_before

    second = per_coin_rules(rules_document(version=2))
    for rule in second["rules"]:
        if rule["id"] == "above-btc":
            rule["description"] = "edited text, same condition"
            rule["cooldown"] = "1s"
    second["rules"].append(
        {"id": "new-move", "kind": "price_move", "coins": ["ETH"], "move_pct": 1, "window": "5m"}
    )
    changed = write_rules(harness.alert_settings.rules_file, second)
    await harness.start(changed)
    await harness.publish_ticks([_sent(t) for t in after])
    await harness.wait_checkpointed()
    await harness.stop_cleanly()

    alerts = await harness.alerts()
    ids = _ids(alerts)
    assert len(ids) == len(set(ids)), "an alert fired again after the rules changed"
    new_alerts = alerts[len(fired_before) :]
    assert all(alert.rules_version == 2 for alert in new_alerts)
    boundary = after[0].ts
    assert all(alert.event_time_ms >= boundary for alert in new_alerts), "old ticks re-fired"
    assert any(alert.rule_id == "new-move" for alert in new_alerts), "the new rule never ran"


def _sent(tick: Any) -> Any:
    from tests.support.alert_ticks import SentTick

    return SentTick(tick)


async def _deliveries(harness: Harness) -> list[DeliveryMessage]:
    records = await read_topic(
        KafkaConnection(harness.bootstrap), harness.alert_settings.topic_deliveries
    )
    if records:
        assert_matches_contract("coins_alerts_deliveries", [r.value or b"" for r in records])
    return [DeliveryMessage.model_validate_json(r.value or b"") for r in records]


async def test_webhook_down_then_up_gets_every_alert_in_order(harness: Harness) -> None:
    rules = write_rules(harness.alert_settings.rules_file, per_coin_rules(rules_document()))
    clean = tick_series(150, end_ms=int(time.time() * 1000), seed=21)
    with webhook_receiver() as generic, webhook_receiver() as slack:
        harness.with_webhooks(
            WebhookConfig(name="generic", url=SecretStr(generic.url)),
            WebhookConfig(name="team-slack", kind="slack", url=SecretStr(slack.url)),
        )
        generic.down = slack.down = True
        await harness.start(rules)
        await harness.publish_ticks([_sent(t) for t in clean])
        await harness.wait_checkpointed()
        await _wait_refused(generic, slack)
        generic.down = slack.down = False
        alerts = await harness.alerts()
        for receiver in (generic, slack):
            assert await asyncio.to_thread(receiver.wait_for, len(alerts), WAIT_S)
        await _wait_recorded(harness, 2 * len(alerts))
        await harness.stop_cleanly()

    order = _ids(alerts)
    assert generic.accepted_ids() == order, "generic webhook: not every alert, or out of order"
    assert slack.accepted_ids() == order, "slack webhook: not every alert, or out of order"
    assert generic.received[0].body["alert_id"] == order[0]
    assert set(slack.received[0].body) >= {"text", "blocks"}
    deliveries = await _deliveries(harness)
    assert {d.status for d in deliveries} == {"delivered"}
    assert all(d.attempts >= 1 for d in deliveries)


async def _wait_refused(*receivers: WebhookReceiver) -> None:
    await eventually_async(
        lambda: [r.refused for r in receivers],
        until=lambda refused: all(count >= 3 for count in refused),
        within=WAIT_S,
        what="three refused deliveries at each webhook",
        interval=0.2,
    )


async def _wait_recorded(harness: Harness, count: int) -> None:
    await eventually_async(
        lambda: _deliveries(harness),
        until=lambda deliveries: len(deliveries) >= count,
        within=WAIT_S,
        what=f"{count} delivery records",
        interval=0.2,
    )


async def test_refused_alert_goes_to_the_dead_letter_topic_with_the_reason(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    rules = write_rules(harness.alert_settings.rules_file, per_coin_rules(rules_document()))
    clean = tick_series(60, end_ms=int(time.time() * 1000), seed=4)
    with webhook_receiver() as refusing, webhook_receiver() as gone:
        refusing.down, refusing.status_when_down = True, 400
        gone.down = True  # 503 for ever: retried, then dead-lettered
        harness.with_webhooks(
            WebhookConfig(name="refusing", kind="discord", url=SecretStr(refusing.url)),
            WebhookConfig(
                name="gone",
                kind="ntfy",
                url=SecretStr(gone.url),
                ntfy_topic="alerts",
                token=SecretStr("tk_secret-token-value"),
            ),
        )
        harness.alert_settings = harness.alert_settings.model_copy(update={"delivery_attempts": 3})
        await harness.start(rules)
        await harness.publish_ticks([_sent(t) for t in clean])
        await harness.wait_checkpointed()
        alerts = await harness.alerts()
        assert alerts
        await _wait_recorded(harness, 2 * len(alerts))
        await harness.stop_cleanly()

    deliveries = await _deliveries(harness)
    assert {d.status for d in deliveries} == {"dead_letter"}
    by_hook = {d.webhook: d for d in deliveries}
    assert "HTTP 400" in by_hook["refusing"].reason
    assert by_hook["refusing"].attempts == 1
    assert "HTTP 503" in by_hook["gone"].reason
    assert by_hook["gone"].attempts == 3
    dead = [
        DeadLetterMessage.model_validate_json(r.value or b"")
        for r in await read_topic(
            KafkaConnection(harness.bootstrap), harness.settings.topic_dead_letter
        )
    ]
    assert len(dead) == 2 * len(alerts)
    assert {d.intended_topic for d in dead} == {"webhook:refusing", "webhook:gone"}
    text = " ".join(d.error for d in dead) + caplog.text
    assert "secret-path-token" not in text
    assert "tk_secret-token-value" not in text


async def test_without_webhooks_alerts_still_reach_the_topic(harness: Harness) -> None:
    rules = write_rules(harness.alert_settings.rules_file, per_coin_rules(rules_document()))
    clean = tick_series(80, end_ms=int(time.time() * 1000), seed=8)
    await harness.start(rules)
    await harness.publish_ticks([_sent(t) for t in clean])
    await harness.wait_checkpointed()
    run = await harness.stop_cleanly()
    assert run.delivered == {}
    assert _ids(await harness.alerts()) == expected_alert_ids(rules, clean)
