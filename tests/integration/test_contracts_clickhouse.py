"""ClickHouse's Kafka tables read exactly the fields of each topic's schema, with types that
store every value the schema allows: columns as the real engine reports them (system.columns
of chDB here, of the container where Docker answers), after clickhouse/init ran."""

from __future__ import annotations

import json
from typing import Any

from provisioning.contracts import WIRE_MODELS, example, schema
from tests.support.contract_schema import clickhouse_reads

# Every topic but the dead letters (kept in Kafka for a person to read) lands in ClickHouse.
NOT_IN_CLICKHOUSE = {"coins_dead_letter"}


def _columns(client: Any, table: str) -> list[tuple[str, str]]:
    database, name = table.split(".")
    result = client.query(
        "SELECT name, type FROM system.columns WHERE database = {database:String} "
        "AND table = {table:String} ORDER BY position",
        parameters={"database": database, "table": name},
    )
    return [(str(row[0]), str(row[1])) for row in result.result_rows]


def _readers(clickhouse_backend: Any) -> dict[str, list[str]]:
    """Topic -> the Kafka tables reading it, resolved through the named collections."""
    readers: dict[str, list[str]] = {}
    for table in clickhouse_backend.kafka_tables.values():
        for topic in table.topics:
            readers.setdefault(topic, []).append(table.name)
    return readers


def test_every_kafka_table_reads_its_topics_schema(clickhouse_backend: Any) -> None:
    readers = _readers(clickhouse_backend)
    # resolved through the named collections, as the engine reads them
    expected = {topic for topic in WIRE_MODELS if topic not in NOT_IN_CLICKHOUSE}
    assert set(readers) == expected
    for topic in sorted(expected):
        assert len(readers[topic]) == 1, (topic, readers[topic])
        columns = _columns(clickhouse_backend.client, readers[topic][0])
        properties = schema(topic)["properties"]
        # JSONEachRow matches names letter for letter: the same fields, in the schema's order
        assert [name for name, _ in columns] == list(properties), topic
        for name, column_type in columns:
            assert clickhouse_reads(column_type, properties[name]), (
                f"{readers[topic][0]}.{name} is {column_type}; the contract allows "
                f"{properties[name]}"
            )


def test_a_schema_valid_example_is_one_row_of_every_kafka_table(clickhouse_backend: Any) -> None:
    """The engine's own parser agrees: each example, as JSONEachRow, fills each column."""
    clickhouse = clickhouse_backend.client
    for topic, (table, *_) in sorted(_readers(clickhouse_backend).items()):
        structure = ", ".join(f"`{name}` {kind}" for name, kind in _columns(clickhouse, table))
        message = example(topic)
        result = clickhouse.query(
            "SELECT * FROM format(JSONEachRow, {structure:String}, {row:String})",
            parameters={"structure": structure, "row": json.dumps(message)},
        )
        assert len(result.result_rows) == 1, topic
        assert list(result.column_names) == list(message), topic
