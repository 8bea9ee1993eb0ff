"""The one-line connection errors: their words, the setting they name, no secret in them."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from aiokafka.errors import KafkaConnectionError
from pydantic import SecretStr

from alerts.cli import clickhouse_client
from alerts.settings import AlertSettings
from producers.reachability import (
    UnreachableError,
    kafka_unreachable,
    reason_of,
    require_clickhouse,
    require_kafka,
    require_url,
)
from producers.settings import Settings


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        yield int(holder.getsockname()[1])


@pytest.fixture
def open_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


def test_reason_is_found_in_the_cause_chain() -> None:
    outer = RuntimeError("Error executing HTTP request")
    outer.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert reason_of(outer) == "connection refused"


def test_reason_is_read_from_a_message_that_quotes_errno() -> None:
    error = RuntimeError("ksqlDB not healthy (ConnectError: [Errno 111] Connection refused)")
    assert reason_of(error) == "connection refused"
    assert reason_of(RuntimeError("HTTP 500: boom")) is None


def test_kafka_refused_names_the_bootstrap_setting(closed_port: int) -> None:
    settings = Settings(kafka_bootstrap_servers=f"127.0.0.1:{closed_port}")
    with pytest.raises(UnreachableError) as raised:
        require_kafka(settings)
    assert str(raised.value) == (
        f"cannot reach Kafka at 127.0.0.1:{closed_port} (COINS_KAFKA_BOOTSTRAP_SERVERS): "
        "connection refused"
    )


def test_kafka_is_reachable_when_one_bootstrap_server_answers(
    closed_port: int, open_port: int
) -> None:
    servers = f"127.0.0.1:{closed_port},127.0.0.1:{open_port}"
    require_kafka(Settings(kafka_bootstrap_servers=servers))


def test_unknown_host_is_said_as_such() -> None:
    settings = Settings(kafka_bootstrap_servers="no-such-host.invalid:9094")
    with pytest.raises(UnreachableError) as raised:
        require_kafka(settings, timeout=2)
    assert "(COINS_KAFKA_BOOTSTRAP_SERVERS)" in str(raised.value)
    assert raised.value.reason  # the resolver's words, which vary by platform


def test_an_aiokafka_failure_becomes_the_same_line() -> None:
    settings = Settings(kafka_bootstrap_servers="localhost:9094")
    error = KafkaConnectionError("Unable to bootstrap from [('localhost', 9094)]")
    assert str(kafka_unreachable(settings, error)) == (
        "cannot reach Kafka at localhost:9094 (COINS_KAFKA_BOOTSTRAP_SERVERS): "
        "no broker answered as Kafka"
    )


def test_passwords_never_reach_the_line(closed_port: int) -> None:
    with pytest.raises(UnreachableError) as raised:
        require_clickhouse(f"http://admin:s3cret@127.0.0.1:{closed_port}")
    assert "s3cret" not in str(raised.value)
    assert str(raised.value).endswith("(COINS_CLICKHOUSE_URL): connection refused")


def test_clickhouse_port_defaults_like_clickhouse_connect(open_port: int) -> None:
    # No port in the URL: clickhouse-connect dials 8123; an open port given explicitly passes.
    require_clickhouse(f"http://127.0.0.1:{open_port}")
    require_url(f"http://127.0.0.1:{open_port}/api/health", "Metabase", "METABASE_URL")


def test_coins_alerts_says_an_unreachable_clickhouse_in_one_line(closed_port: int) -> None:
    settings = AlertSettings(
        clickhouse_url=SecretStr(f"http://ingest:pw@127.0.0.1:{closed_port}/crypto")
    )
    with pytest.raises(UnreachableError) as raised:
        clickhouse_client(settings)
    assert str(raised.value) == (
        f"cannot reach ClickHouse at http://ingest:**********@127.0.0.1:{closed_port}/crypto "
        "(COINS_CLICKHOUSE_URL): connection refused"
    )
