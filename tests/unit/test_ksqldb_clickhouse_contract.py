"""What ksqlDB writes = what ClickHouse reads, straight from the two SQL texts.

(Each side against the topic's schema, contracts/<topic>.schema.json: tests/unit/test_contracts.py
and tests/integration/test_contracts_clickhouse.py.)

The ksqlDB side is inferred from the SELECT lists in ksqldb/*.sql (names after ksqlDB's quoting
rules, types from the functions), the ClickHouse side from the Kafka-engine tables in
clickhouse/init/*.sql. A renamed alias, a forgotten backtick (ksqlDB would write CODE, which
JSONEachRow does not match to code) or a Float32 column fails here instead of in a dashboard.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.ksqldb_schema import (
    ClickHouseKafkaTable,
    clickhouse_kafka_tables,
    clickhouse_type_accepts,
    ksqldb_sinks,
)

SINKS = {sink.topic: sink for sink in ksqldb_sinks()}
OUTPUT_TOPICS = ["coins_ohlc_minute", "coins_moving_average_60s"]


def _kafka_table_reading(topic: str) -> ClickHouseKafkaTable:
    readers = [table for table in clickhouse_kafka_tables() if topic in table.topics]
    assert len(readers) == 1, f"expected one ClickHouse Kafka table for {topic}, got {readers}"
    return readers[0]


@pytest.mark.parametrize("topic", OUTPUT_TOPICS)
def test_clickhouse_kafka_table_reads_what_ksqldb_writes(topic: str) -> None:
    sink = SINKS[topic]
    table = _kafka_table_reading(topic)
    clickhouse_columns = {column.name: column.type for column in table.columns}

    # JSONEachRow matches names case-sensitively: the sets must be equal, letter for letter
    assert sorted(clickhouse_columns) == sorted(column.name for column in sink.value_columns)
    for column in sink.value_columns:
        assert clickhouse_type_accepts(clickhouse_columns[column.name], column.type), (
            f"{table.name}.{column.name} is {clickhouse_columns[column.name]}, "
            f"ksqlDB writes {column.type}"
        )


@pytest.mark.parametrize(
    ("clickhouse_type", "ksql_type", "accepted"),
    [
        ("Float64", "DOUBLE", True),
        ("Float32", "DOUBLE", False),
        ("Nullable(Float64)", "DOUBLE", True),
        ("Int64", "BIGINT", True),
        ("Int32", "BIGINT", False),
        ("DateTime64(3,'UTC')", "BIGINT", False),
        ("LowCardinality(String)", "VARCHAR", True),
        ("LowCardinality(Nullable(String))", "VARCHAR", True),
    ],
)
def test_type_compatibility_rules(clickhouse_type: str, ksql_type: str, accepted: bool) -> None:
    assert clickhouse_type_accepts(clickhouse_type, ksql_type) is accepted


def test_parser_sees_a_lower_case_mismatch(tmp_path: Path) -> None:
    (tmp_path / "010_s.sql").write_text(
        "CREATE STREAM IF NOT EXISTS s (code VARCHAR KEY, rate DOUBLE) "
        "WITH (KAFKA_TOPIC='in', VALUE_FORMAT='JSON');"
    )
    (tmp_path / "020_t.sql").write_text(
        "CREATE TABLE IF NOT EXISTS t WITH (KAFKA_TOPIC='out') AS SELECT code, "
        "AS_VALUE(code) AS code_value, MAX(rate) AS `high`, COUNT(*) AS `n` "
        "FROM s WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY code EMIT CHANGES;"
    )
    [sink] = ksqldb_sinks(tmp_path)
    assert sink.topic == "out"
    # an unquoted alias comes out upper-case, which ClickHouse would not match
    assert [(c.name, c.type) for c in sink.value_columns] == [
        ("CODE_VALUE", "VARCHAR"),
        ("high", "DOUBLE"),
        ("n", "BIGINT"),
    ]
