"""The real backends answer, and the native broker survives a stop/start with its data."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from producers.kafka.connection import KafkaConnection
from producers.kafka.reader import read_topic
from tests.support.kafka_feeder import produce


async def _send(bootstrap: str, topic: str, values: list[bytes]) -> None:
    await produce(KafkaConnection(bootstrap), topic, values)


async def _read_all(bootstrap: str, topic: str) -> list[bytes | None]:
    return [value for _key, value in await read_topic(KafkaConnection(bootstrap), topic)]


def _accepts_connections(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    with socket.socket() as probe:
        probe.settimeout(2.0)
        return probe.connect_ex((host.strip("[]"), int(port))) == 0


def test_broker_stop_and_start_are_idempotent(running_kafka_broker: Any, unique_name: Any) -> None:
    """Outage tests stop and start the broker themselves, then the fixture starts it again:
    every kind of broker must take a second stop() or start() as a no-op, not an error."""
    broker = running_kafka_broker
    topic = unique_name("idempotent")
    asyncio.run(_send(broker.bootstrap, topic, [b"before"]))
    broker.start()  # already running
    broker.stop()
    broker.stop()  # already stopped
    assert not _accepts_connections(broker.bootstrap)
    broker.start()
    broker.start()  # already running again
    asyncio.run(_send(broker.bootstrap, topic, [b"after"]))
    assert asyncio.run(_read_all(broker.bootstrap, topic)) == [b"before", b"after"]


def test_clickhouse_engine_answers_with_the_project_schema(clickhouse: Any) -> None:
    version = clickhouse.query("SELECT version()").result_rows[0][0]
    assert int(str(version).split(".")[0]) >= 25
    databases = {row[0] for row in clickhouse.query("SHOW DATABASES").result_rows}
    assert "crypto" in databases
