"""Alerts and ClickHouse, on the real engine: the alert topics ingested into the Alerts views,
and the indicator and pipeline rules evaluated against the snapshot and health views."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from alerts.cli import run_alerts
from alerts.edges import PairState
from alerts.models import AlertMessage
from alerts.rules import parse_rules
from alerts.scheduled import ScheduledEvaluator
from alerts.service import ServiceStats
from alerts.settings import AlertSettings, WebhookConfig
from producers.clock import noon_ms
from producers.kafka.connection import KafkaConnection
from producers.kafka.publisher import KafkaPublisher, Record
from producers.settings import Settings
from tests.support.alert_ticks import (
    BASES,
    per_coin_rules,
    rules_document,
    tick_series,
    tick_value,
)
from tests.support.clickhouse_snapshots import refresh_snapshots
from tests.support.producers_kafka import read_topic
from tests.support.waiting import eventually_async
from tests.support.webhook_receiver import webhook_receiver

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]


def _rows(client: Any, sql: str) -> list[dict[str, Any]]:
    result = client.query(sql)
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


async def test_alerts_and_delivery_status_reach_the_alerts_views(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    clickhouse: Any,
    kafka_feeder: Any,
    tmp_path: Path,
) -> None:
    document = per_coin_rules(rules_document())
    for rule in document["rules"]:
        if rule["id"] == "move":
            rule["notify"] = ["ok", "refusing"]
        else:
            rule["notify"] = ["ok"]
    with webhook_receiver() as ok, webhook_receiver() as refusing:
        refusing.down, refusing.status_when_down = True, 400
        hooks = [
            WebhookConfig(name="ok", url=SecretStr(ok.url)),
            WebhookConfig(name="refusing", kind="discord", url=SecretStr(refusing.url)),
        ]
        rules = parse_rules(document, webhook_names=["ok", "refusing"])
        settings = Settings(
            kafka_bootstrap_servers=kafka_bootstrap,
            coins=tuple(BASES),
            topic_current=unique_name("ticks"),
            topic_dead_letter=unique_name("dead"),
        )
        alert_settings = AlertSettings(
            rules_file=tmp_path / "unused.yaml",
            webhooks=hooks,
            # the topics clickhouse/init reads
            topic_alerts="coins_alerts",
            topic_deliveries="coins_alerts_deliveries",
            topic_state=unique_name("state"),
            consumer_group=unique_name("delivery"),
            heartbeat_file=None,
            checkpoint_interval_seconds=0.3,
        )
        before = (
            await read_topic(kafka_bootstrap, "coins_alerts")
            if await _exists(kafka_bootstrap, "coins_alerts")
            else []
        )
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.ensure_future(
            run_alerts(settings, alert_settings, rules, stop=stop, ready=ready)
        )
        await asyncio.wait_for(ready.wait(), 90)
        publisher = KafkaPublisher(KafkaConnection(bootstrap_servers=kafka_bootstrap))
        ticks = tick_series(120, end_ms=int(time.time() * 1000), seed=13)
        await publisher.publish(
            [Record(settings.topic_current, t.coin.encode(), tick_value(t)) for t in ticks]
        )

        async def alerts_and_deliveries() -> tuple[list[AlertMessage], int]:
            alerts = [
                AlertMessage.model_validate_json(r.value or b"")
                for r in await read_topic(kafka_bootstrap, "coins_alerts")
            ][len(before) :]
            return alerts, len(await read_topic(kafka_bootstrap, "coins_alerts_deliveries"))

        def every_alert_delivered(found: tuple[list[AlertMessage], int]) -> bool:
            alerts, deliveries = found
            moves = sum(a.rule_id == "move" for a in alerts)
            return bool(alerts) and deliveries >= len(alerts) + moves

        alerts, _deliveries = await eventually_async(
            alerts_and_deliveries,
            until=every_alert_delivered,
            within=90,
            what="alerts, each with its deliveries (two for a move)",
            interval=0.3,
        )
        moves = sum(a.rule_id == "move" for a in alerts)
        stop.set()
        await asyncio.wait_for(task, 90)
        # an at-least-once duplicate of the first alert: the views must show it once
        await publisher.publish([Record("coins_alerts", b"dup", alerts[0].to_json_bytes())])
        await publisher.close()

    await asyncio.to_thread(kafka_feeder.drain, "coins_alerts")
    await asyncio.to_thread(kafka_feeder.drain, "coins_alerts_deliveries")
    recent = _rows(
        clickhouse,
        "SELECT alert_id, rule_id, delivery_status, webhooks_delivered, webhooks_failed "
        "FROM crypto.alerts_recent",
    )
    by_id = {row["alert_id"]: row for row in recent}
    assert len(recent) == len(by_id), "a duplicated alert shows twice"
    assert set(by_id) == {a.alert_id for a in alerts}
    for alert in alerts:
        row = by_id[alert.alert_id]
        if alert.rule_id == "move":
            assert (row["delivery_status"], row["webhooks_failed"]) == ("dead_letter", 1)
        else:
            assert (row["delivery_status"], row["webhooks_delivered"]) == ("delivered", 1)
    per_rule = _rows(
        clickhouse, "SELECT rule_id, coin, alerts_total FROM crypto.alerts_by_rule_coin"
    )
    assert sum(row["alerts_total"] for row in per_rule) == len(alerts)
    status = {
        (row["webhook"], row["status"]): row["deliveries"]
        for row in _rows(clickhouse, "SELECT * FROM crypto.alert_delivery_status")
    }
    assert status == {("ok", "delivered"): len(alerts), ("refusing", "dead_letter"): moves}


async def _exists(bootstrap: str, topic: str) -> bool:
    from producers.kafka.topics import topic_partitions

    return bool(await topic_partitions(KafkaConnection(bootstrap_servers=bootstrap), topic))


def _history_rows(code: str, closes: list[float], last_day: dt.date) -> list[list[Any]]:
    rows = []
    for index, close in enumerate(closes):
        day = last_day - dt.timedelta(days=len(closes) - 1 - index)
        ts = dt.datetime.fromtimestamp(noon_ms(day) / 1000, tz=dt.UTC)
        rows.append([code, ts, "test", "USD", 1, close, 0, 0, dt.datetime.now(dt.UTC)])
    return rows


HISTORY_COLUMNS = [
    "code", "ts", "source", "currency", "schema_version", "rate",
    "kafka_partition", "kafka_offset", "ingested_at",
]  # fmt: skip


def _insert_rise_and_fall(clickhouse: Any) -> None:
    """Two daily series ending yesterday (the newest full day the snapshots read).

    RISE: flat at 100 with tiny noise, a 5 % dip, then +37 %: RSI crosses 70 up, the close
    crosses its SMA 50 up and sets a new high, all on the last day. FALL: up to 200, then down
    30 %: a drawdown beyond 20 % on the last day.
    """
    last_day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    rise = [100 * (1 + 0.002 * math.sin(i)) for i in range(250)] + [95.0, 130.0]
    fall = [100 + i * 0.4 for i in range(250)] + [180.0, 140.0]
    clickhouse.insert(
        "crypto.coins_history",
        _history_rows("RISE", rise, last_day) + _history_rows("FALL", fall, last_day),
        column_names=HISTORY_COLUMNS,
    )


def test_indicator_and_pipeline_rules_fire_once_on_the_snapshot_and_health_views(
    clickhouse: Any,
) -> None:
    _insert_rise_and_fall(clickhouse)
    now = dt.datetime.now(dt.UTC)
    ticks = [
        # other coins than the daily series: a live tick is also today's close candidate
        ["QUIET", now - dt.timedelta(minutes=10), "test", "USD", 1, 130.0, 0, 0, now],
        ["LIVE", now - dt.timedelta(seconds=10), "test", "USD", 1, 140.0, 0, 0, now],
    ]
    clickhouse.insert("crypto.coins_ticks", ticks, column_names=HISTORY_COLUMNS)
    clickhouse.insert(
        "crypto.ingest_errors",
        [[now, "coins_current_full", 0, i, "", "bad", "{"] for i in range(12)],
        column_names=[
            "received_at", "topic", "kafka_partition", "kafka_offset", "kafka_key", "error",
            "raw_message",
        ],
    )  # fmt: skip
    refresh_snapshots(clickhouse)
    rules = parse_rules(
        {
            "version": 1,
            "rules": [
                {"id": "rsi-up", "kind": "rsi_cross", "level": 70, "direction": "up"},
                {"id": "rsi-down", "kind": "rsi_cross", "level": 30, "direction": "down"},
                {"id": "sma50-up", "kind": "sma_cross", "sma": 50, "direction": "up"},
                {"id": "sma50-down", "kind": "sma_cross", "sma": 50, "direction": "down"},
                {"id": "ath", "kind": "all_time_high"},
                {"id": "dd-20", "kind": "drawdown", "level": 20},
                {"id": "silent-5", "kind": "no_tick", "minutes": 5, "coins": ["QUIET", "LIVE"]},
                {"id": "errors", "kind": "ingest_errors", "per_hour": 10},
            ],
        }
    )
    states: dict[tuple[str, str], PairState] = {}
    evaluator = ScheduledEvaluator(rules.rules, ["RISE", "FALL"], states, clickhouse)
    now_ms = int(now.timestamp() * 1000)
    fired = {(f.rule.id, f.coin) for f in evaluator.evaluate(now_ms)}
    assert fired == {
        ("rsi-up", "RISE"),
        ("sma50-up", "RISE"),
        ("ath", "RISE"),
        ("dd-20", "FALL"),
        ("silent-5", "QUIET"),
        ("errors", "*"),
    } | _sma_down_if_crossed(clickhouse)
    # edge-triggered: the same data fires nothing on the next rounds
    assert evaluator.evaluate(now_ms + 60_000) == []
    assert evaluator.evaluate(now_ms + 120_000) == []


def _sma_down_if_crossed(client: Any) -> set[tuple[str, str]]:
    """FALL's close may or may not cross its SMA 50 downwards on the last day depending on
    the window: read the snapshot to know which answer is right."""
    rows = _rows(
        client,
        "SELECT day, close, sma_50 FROM crypto.moving_averages_daily_snapshot "
        "WHERE code = 'FALL' ORDER BY day DESC LIMIT 2",
    )
    latest, previous = rows
    crossed = previous["close"] > previous["sma_50"] and latest["close"] <= latest["sma_50"]
    return {("sma50-down", "FALL")} if crossed else set()


async def test_scheduled_rules_in_the_service_fire_once_across_restarts(
    kafka_bootstrap: str,
    unique_name: Callable[[str], str],
    clickhouse: Any,
    tmp_path: Path,
) -> None:
    _insert_rise_and_fall(clickhouse)
    refresh_snapshots(clickhouse)
    rules = parse_rules(
        {
            "version": 1,
            "rules": [
                {"id": "rsi-up", "kind": "rsi_cross", "level": 70, "direction": "up"},
                {"id": "ath", "kind": "all_time_high"},
                {"id": "dd-20", "kind": "drawdown", "level": 20},
            ],
        }
    )
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        coins=("RISE", "FALL"),
        topic_current=unique_name("ticks"),
        topic_dead_letter=unique_name("dead"),
    )
    alert_settings = AlertSettings(
        rules_file=tmp_path / "unused.yaml",
        topic_alerts=unique_name("alerts"),
        topic_deliveries=unique_name("deliveries"),
        topic_state=unique_name("state"),
        heartbeat_file=None,
        schedule_interval_seconds=0.2,
        checkpoint_interval_seconds=0.2,
    )
    expected = {("rsi-up", "RISE"), ("ath", "RISE"), ("dd-20", "FALL")}

    async def alerts_on_topic() -> list[AlertMessage]:
        records = await read_topic(kafka_bootstrap, alert_settings.topic_alerts)
        return [AlertMessage.model_validate_json(r.value or b"") for r in records]

    async def run_until_quiet() -> ServiceStats:
        """One run of the service: until the expected alerts are on the topic and three more
        schedule rounds over the unchanged data, any of which could fire again, have run."""
        stop, ready, stats = asyncio.Event(), asyncio.Event(), ServiceStats()
        task = asyncio.ensure_future(
            run_alerts(
                settings,
                alert_settings,
                rules,
                stop=stop,
                ready=ready,
                clickhouse=clickhouse,
                stats=stats,
            )
        )

        def rounds_so_far() -> int:
            if task.done():  # a failed service fails the test at once
                raise AssertionError(f"the alerts service stopped early: {task.result()}")
            return stats.scheduled_rounds

        await asyncio.wait_for(ready.wait(), 90)
        await eventually_async(
            alerts_on_topic,
            until=lambda alerts: len(alerts) >= len(expected),
            within=60,
            what=f"the {len(expected)} scheduled alerts",
            interval=0.2,
        )
        rounds = rounds_so_far()
        await eventually_async(
            rounds_so_far,
            until=lambda done: done >= rounds + 3,
            within=60,
            what="three more schedule rounds over unchanged data",
        )
        stop.set()
        return (await asyncio.wait_for(task, 90)).stats

    for restart in range(3):  # first start, then two restarts over the same snapshots
        stats = await run_until_quiet()
        assert stats.checkpoints >= 1
        assert stats.alerts_published == (len(expected) if restart == 0 else 0)
    alerts = await alerts_on_topic()
    assert sorted((a.rule_id, a.coin) for a in alerts) == sorted(expected)
    assert all(a.source == "clickhouse" for a in alerts)
