"""The chDB applier's pure parts: statements, named collections, the tolerated CREATE error."""

from __future__ import annotations

import asyncio
import textwrap
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition

from alerts.settings import AlertSettings
from embedded.clickhouse import (
    CONFIG_DIR,
    KafkaTable,
    collection_environment,
    declared_kafka_tables,
    find_kafka_table,
    kafka_table,
    named_collections,
    run_statement,
    split_statements,
    wait_until_committed,
)
from producers.kafka.connection import KafkaConnection
from producers.kafka.topics import topic_defaults
from producers.settings import Settings
from tests.support.clickhouse_loader import project_databases
from tests.support.compose_env import load_compose

QUIRK = "Code: 49. DB::Exception: Shutdown was called. (LOGICAL_ERROR)"
KAFKA_DDL = textwrap.dedent(
    """
    -- Reads ticks; the ; in this comment does not end the statement.
    CREATE TABLE IF NOT EXISTS crypto.ticks_queue
    (
        code String,
        rate Nullable(Float64)   -- may be null
    )
    ENGINE = Kafka(kafka_ticks)
    SETTINGS kafka_topic_list = 'coins_current_full',
             kafka_format = 'JSONEachRow',
             kafka_flush_interval_ms = 500
    """
)


def test_split_ignores_semicolons_in_strings_and_comments() -> None:
    sql = "SELECT ';' AS a; -- one; two\nSELECT `x;y` FROM t /* ; */; \n\n  ;"
    assert split_statements(sql) == ["SELECT ';' AS a", "-- one; two\nSELECT `x;y` FROM t /* ; */"]


def test_a_kafka_table_takes_broker_and_group_from_its_named_collection() -> None:
    collections = {"kafka_ticks": {"kafka_broker_list": "b:9092", "kafka_group_name": "g"}}
    table = kafka_table(KAFKA_DDL, collections)
    assert table == KafkaTable(
        name="crypto.ticks_queue",
        topics=("coins_current_full",),
        group="g",
        settings={
            "kafka_broker_list": "b:9092",
            "kafka_group_name": "g",
            "kafka_topic_list": "coins_current_full",
            "kafka_format": "JSONEachRow",
            "kafka_flush_interval_ms": "500",
        },
    )
    assert kafka_table("CREATE TABLE t (a Int8) ENGINE = MergeTree ORDER BY a") is None


DEFAULT_TOPICS = topic_defaults(Settings, AlertSettings)


def test_the_collections_get_the_same_variables_as_compose_gives_the_server() -> None:
    compose_environment = load_compose()["services"]["clickhouse"]["environment"]
    ours = collection_environment("kafka:9092", topics=DEFAULT_TOPICS)
    read_by_config = {
        key: str(value)
        for key, value in compose_environment.items()
        if key.startswith("CLICKHOUSE_KAFKA_") or key in DEFAULT_TOPICS
    }
    assert ours == read_by_config


def test_every_named_collection_is_resolved_and_an_unset_variable_is_an_error() -> None:
    collections = named_collections(
        collection_environment("127.0.0.1:1", "test", topics=DEFAULT_TOPICS)
    )
    assert collections["kafka_coins_current_full"] == {
        "kafka_topic_list": "coins_current_full",
        "kafka_broker_list": "127.0.0.1:1",
        "kafka_group_name": "test_coins_current_full",
    }
    with pytest.raises(KeyError, match="COINS_TOPIC_CURRENT"):
        named_collections(collection_environment("127.0.0.1:1", topics={}), CONFIG_DIR)


def test_the_project_declares_seven_kafka_tables_each_with_a_group() -> None:
    tables = declared_kafka_tables(
        named_collections(collection_environment("b:1", "p", topics=DEFAULT_TOPICS))
    )
    assert {t.topics for t in tables.values()} == {
        ("coins_current_full",),
        ("coins_historical",),
        ("coins_ohlc_minute",),
        ("coins_moving_average_60s",),
        ("portfolio_transactions",),
        ("coins_alerts",),
        ("coins_alerts_deliveries",),
    }
    assert all(t.group.startswith("p_") for t in tables.values())
    assert (
        find_kafka_table(tables, topic="coins_historical").name == "crypto.kafka_coins_historical"
    )
    with pytest.raises(LookupError):
        find_kafka_table(tables, topic="nobody_reads_this")


class ScriptedClient:
    """Raises the given error on ``command`` and answers ``system.tables`` with ``exists``."""

    def __init__(self, error: str | None, exists: bool) -> None:
        self.error, self.exists = error, exists

    def command(self, sql: str) -> None:
        if self.error:
            raise RuntimeError(self.error)

    def query(self, sql: str, parameters: dict[str, Any]) -> Any:
        assert parameters == {"db": "crypto", "name": "ticks_queue"}

        return SimpleNamespace(result_rows=[[1 if self.exists else 0]])


def test_the_shutdown_error_is_tolerated_on_a_kafka_create_once_the_table_exists() -> None:
    run_statement(ScriptedClient(QUIRK, exists=True), KAFKA_DDL)
    run_statement(ScriptedClient(QUIRK, exists=True), KAFKA_DDL.replace("CREATE", "ATTACH", 1))
    run_statement(ScriptedClient(QUIRK, exists=True), "ATTACH TABLE crypto.ticks_queue")


@pytest.mark.parametrize("statement", [KAFKA_DDL, "ATTACH TABLE crypto.ticks_queue"])
def test_the_shutdown_error_fails_when_no_kafka_table_exists_after_it(statement: str) -> None:
    # the check asks for engine = 'Kafka': an ATTACH of any other table is not tolerated
    with pytest.raises(RuntimeError, match=r"not in system\.tables"):
        run_statement(ScriptedClient(QUIRK, exists=False), statement)


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        ("CREATE TABLE t (a Int8) ENGINE = MergeTree ORDER BY a", QUIRK),
        (KAFKA_DDL, "Code: 62. DB::Exception: Syntax error"),
        (KAFKA_DDL, "Code: 49. DB::Exception: Some other logical error. (LOGICAL_ERROR)"),
    ],
)
def test_any_other_error_fails(statement: str, error: str) -> None:
    with pytest.raises(RuntimeError, match="Code"):
        run_statement(ScriptedClient(error, exists=True), statement)


def test_waiting_on_nothing_is_an_error_not_a_success() -> None:
    connection = KafkaConnection("127.0.0.1:1")
    with pytest.raises(ValueError, match="nothing to wait for"):
        asyncio.run(wait_until_committed(connection, "group", {}, timeout_s=1))


def test_nothing_produced_needs_no_broker() -> None:
    connection = KafkaConnection("127.0.0.1:1")
    targets = {TopicPartition("topic", 0): 0}
    asyncio.run(wait_until_committed(connection, "group", targets, timeout_s=1))


def test_split_handles_escaped_quotes() -> None:
    assert split_statements(r"SELECT 'it\'s; fine'; SELECT 'a''b;c'") == [
        r"SELECT 'it\'s; fine'",
        "SELECT 'a''b;c'",
    ]


def test_project_databases_come_from_the_init_sql() -> None:
    assert project_databases() == ["crypto"]


def testretriable_kafka_errors_are_retried_until_they_pass() -> None:
    from aiokafka.errors import GroupCoordinatorNotAvailableError

    from embedded.clickhouse import retry_kafka_call

    answers: list[BaseException | str] = [
        GroupCoordinatorNotAvailableError(),
        GroupCoordinatorNotAvailableError(),
        "offsets",
    ]

    async def lookup() -> str:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    assert asyncio.run(retry_kafka_call(lookup, "coordinator lookup", deadline_s=30)) == "offsets"
    assert answers == []


def test_other_errors_are_not_retried() -> None:
    from aiokafka.errors import TopicAuthorizationFailedError

    from embedded.clickhouse import retry_kafka_call

    calls = 0

    async def denied() -> None:
        nonlocal calls
        calls += 1
        raise TopicAuthorizationFailedError()

    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(retry_kafka_call(denied, "denied call", deadline_s=30))
    assert calls == 1


def test_retriable_errors_stop_at_the_deadline() -> None:
    from aiokafka.errors import GroupCoordinatorNotAvailableError

    from embedded.clickhouse import retry_kafka_call

    async def never() -> None:
        raise GroupCoordinatorNotAvailableError()

    with pytest.raises(GroupCoordinatorNotAvailableError):
        asyncio.run(retry_kafka_call(never, "hopeless lookup", deadline_s=0.5))
