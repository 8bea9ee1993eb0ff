"""``coins alerts`` as a process: real broker, real receiver, real logging, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from producers.kafka.connection import KafkaConnection
from producers.kafka.publisher import KafkaPublisher, Record
from producers.kafka.reader import read_topic
from tests.support.alert_ticks import (
    BASES,
    per_coin_rules,
    rules_document,
    tick_series,
    tick_value,
    write_rules,
)
from tests.support.waiting import eventually_async
from tests.support.webhook_receiver import webhook_receiver

pytestmark = [pytest.mark.kafka]

REPO_ROOT = Path(__file__).resolve().parents[2]


async def test_the_command_delivers_logs_no_secret_and_stops_cleanly_on_sigterm(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    rules_file = tmp_path / "rules.yaml"
    write_rules(rules_file, per_coin_rules(rules_document()))
    heartbeat = tmp_path / "heartbeat"
    ticks_topic, alerts_topic = unique_name("ticks"), unique_name("alerts")
    with webhook_receiver() as receiver:
        receiver.down = True  # the first attempts fail: retries are logged
        environment = {
            **os.environ,
            "COINS_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "COINS_COINS": ",".join(BASES),
            "COINS_TOPIC_CURRENT": ticks_topic,
            "COINS_TOPIC_HISTORICAL": unique_name("history"),
            "COINS_TOPIC_DEAD_LETTER": unique_name("dead"),
            "COINS_TOPIC_BACKFILL_PROGRESS": unique_name("progress"),
            "COINS_ALERTS_TOPIC_ALERTS": alerts_topic,
            "COINS_ALERTS_TOPIC_STATE": unique_name("state"),
            "COINS_ALERTS_TOPIC_DELIVERIES": unique_name("deliveries"),
            "COINS_ALERTS_CONSUMER_GROUP": unique_name("delivery"),
            "COINS_ALERTS_RULES_FILE": str(rules_file),
            "COINS_ALERTS_HEARTBEAT_FILE": str(heartbeat),
            "COINS_ALERTS_DELIVERY_INITIAL_SECONDS": "0.1",
            "COINS_ALERTS_DELIVERY_MAX_SECONDS": "0.3",
            "COINS_ALERTS_DELIVERY_ATTEMPTS": "30",
            "COINS_ALERTS_WEBHOOKS": json.dumps(
                [{"name": "hook", "kind": "generic", "url": receiver.url}]
            ),
            "COINS_LOG_LEVEL": "DEBUG",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "producers.cli",
            "alerts",
            cwd=tmp_path,
            env=environment,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:

            def heartbeat_while_running() -> bool:
                assert process.returncode is None, "coins alerts exited early"
                return heartbeat.exists()

            await eventually_async(
                heartbeat_while_running,
                within=90,
                what="the service's heartbeat (its loop reached)",
                interval=0.2,
            )
            publisher = KafkaPublisher(KafkaConnection(bootstrap_servers=kafka_bootstrap))
            ticks = tick_series(60, end_ms=int(time.time() * 1000), seed=2)
            await publisher.publish(
                [Record(ticks_topic, t.coin.encode(), tick_value(t)) for t in ticks]
            )
            await publisher.close()
            await eventually_async(
                lambda: receiver.refused,
                until=lambda refused: refused >= 2,
                within=60,
                what="two deliveries refused by the webhook that is down",
                interval=0.2,
            )
            receiver.down = False
            assert await asyncio.to_thread(receiver.wait_for, 1, 60)
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(process.communicate(), 90)
    log = (out + err).decode()
    assert process.returncode == 0, log
    assert "retrying alert" in log  # the failures were logged...
    assert "secret-path-token" not in log  # ...without the webhook's URL
    assert "alerts stopped" in log
    alerts = await read_topic(KafkaConnection(kafka_bootstrap), alerts_topic)
    assert alerts
