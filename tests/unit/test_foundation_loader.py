"""The init-SQL loader: statement splitting and the Kafka -> Null rewrite used on chDB."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support.clickhouse_loader import (
    KAFKA_VIRTUAL_COLUMNS,
    project_databases,
    rewrite_kafka_table,
    split_statements,
)

KAFKA_DDL = textwrap.dedent(
    """
    -- Reads ticks; the ; in this comment does not end the statement.
    CREATE TABLE IF NOT EXISTS crypto.ticks_queue
    (
        code String,
        rate Nullable(Float64),   -- may be null
        delta Tuple(hour Float64, day Float64),
        timestamp_ms Int64
    )
    ENGINE = Kafka
    SETTINGS kafka_broker_list = 'kafka:9092',
             kafka_topic_list = 'coins_current_full',
             kafka_group_name = 'clickhouse_ticks',
             kafka_format = 'JSONEachRow',
             kafka_handle_error_mode = 'stream',
             input_format_skip_unknown_fields = 1
    """
)


def test_split_ignores_semicolons_in_strings_and_comments() -> None:
    sql = "SELECT ';' AS a; -- one; two\nSELECT `x;y` FROM t /* ; */; \n\n  ;"
    assert split_statements(sql) == ["SELECT ';' AS a", "-- one; two\nSELECT `x;y` FROM t /* ; */"]


def test_split_handles_escaped_quotes() -> None:
    assert split_statements(r"SELECT 'it\'s; fine'; SELECT 'a''b;c'") == [
        r"SELECT 'it\'s; fine'",
        "SELECT 'a''b;c'",
    ]


def test_kafka_table_becomes_null_with_virtual_columns() -> None:
    rewritten = rewrite_kafka_table(KAFKA_DDL)
    assert rewritten is not None
    ddl, table = rewritten
    assert "ENGINE = Null" in ddl
    assert "Kafka" not in ddl.split("ENGINE")[-1]
    for name, column_type in KAFKA_VIRTUAL_COLUMNS.items():
        assert f"`{name}` {column_type}" in ddl
    assert table.name == "crypto.ticks_queue"
    assert table.topics == ("coins_current_full",)
    assert table.format == "JSONEachRow"
    assert table.columns == (
        ("code", "String"),
        ("rate", "Nullable(Float64)"),
        ("delta", "Tuple(hour Float64, day Float64)"),
        ("timestamp_ms", "Int64"),
    )
    assert table.input_format_settings == {"input_format_skip_unknown_fields": "1"}


def test_named_collection_settings_are_read_from_server_config(tmp_path: Path) -> None:
    (tmp_path / "kafka.xml").write_text(
        "<clickhouse><named_collections><ticks>"
        "<kafka_broker_list>kafka:9092</kafka_broker_list>"
        "<kafka_topic_list>coins_current_full</kafka_topic_list>"
        "<kafka_format>JSONEachRow</kafka_format>"
        "</ticks></named_collections></clickhouse>"
    )
    ddl = "CREATE TABLE t (code String) ENGINE = Kafka(ticks) SETTINGS kafka_group_name = 'g'"
    rewritten = rewrite_kafka_table(ddl, tmp_path)
    assert rewritten is not None
    assert rewritten[1].topics == ("coins_current_full",)
    assert rewritten[1].settings["kafka_group_name"] == "g"


@pytest.mark.parametrize(
    "ddl",
    [
        "CREATE TABLE t (a String) ENGINE = MergeTree ORDER BY a",
        "CREATE MATERIALIZED VIEW mv TO t AS SELECT a FROM kafka_src",
    ],
)
def test_other_statements_are_left_alone(ddl: str) -> None:
    assert rewrite_kafka_table(ddl) is None


def test_project_databases_come_from_the_init_sql() -> None:
    assert "crypto" in project_databases()


def test_named_collection_values_from_the_environment_are_resolved(tmp_path: Path) -> None:
    from tests.support.clickhouse_loader import resolve_environment

    (tmp_path / "kafka.xml").write_text(
        "<clickhouse><named_collections><ticks>"
        '<kafka_broker_list from_env="BROKERS"/>'
        '<kafka_group_name from_env="TICKS_GROUP"/>'
        "</ticks></named_collections></clickhouse>"
    )
    ddl = "CREATE TABLE t (code String) ENGINE = Kafka(ticks) SETTINGS kafka_topic_list = 'x'"
    rewritten = rewrite_kafka_table(ddl, tmp_path)
    assert rewritten is not None
    declared = rewritten[1]
    assert declared.settings["kafka_group_name"] == "${TICKS_GROUP}"
    resolved = resolve_environment(declared, {"TICKS_GROUP": "clickhouse_x", "BROKERS": "k:9092"})
    assert resolved.settings["kafka_group_name"] == "clickhouse_x"
    assert resolved.settings["kafka_broker_list"] == "k:9092"
    assert resolved.settings["kafka_topic_list"] == "x"


def test_the_project_kafka_tables_name_their_consumer_group() -> None:
    from tests.support.clickhouse_loader import declared_kafka_tables

    groups = {
        name: t.settings.get("kafka_group_name", "") for name, t in declared_kafka_tables().items()
    }
    assert len(groups) == 6  # four pipeline topics, the alerts and their deliveries
    assert all(group.startswith("${CLICKHOUSE_KAFKA_GROUP_") for group in groups.values()), groups
