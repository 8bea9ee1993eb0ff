"""ClickHouse's Kafka tables read exactly the fields of each topic's schema, with types that
store every value the schema allows: columns as the real engine reports them (chDB here, the
container where Docker answers), after clickhouse/init ran. A Kafka table keeps each message's
text (one ``message`` column); its views read the columns with ``crypto_parse_<topic>``, whose
type (a named Tuple) the engine reports."""

from __future__ import annotations

import json
from typing import Any

from provisioning.contracts import WIRE_MODELS, example, schema
from tests.support.contract_schema import clickhouse_reads

# Every topic but the dead letters (kept in Kafka for a person to read) lands in ClickHouse.
NOT_IN_CLICKHOUSE = {"coins_dead_letter"}


def _columns(client: Any, table: str) -> list[tuple[str, str]]:
    """The columns the views of Kafka table ``crypto.kafka_<name>`` read: the elements of
    ``crypto_parse_<name>``'s Tuple, names and types as the engine reports them."""
    database, name = table.split(".")
    message = client.query(
        "SELECT name, type FROM system.columns WHERE database = {database:String} "
        "AND table = {table:String} ORDER BY position",
        parameters={"database": database, "table": name},
    ).result_rows
    assert [tuple(row) for row in message] == [("message", "String")], table
    parse = f"crypto_parse_{name.removeprefix('kafka_')}('{{}}')"
    names = [str(n) for n in client.query(f"SELECT tupleNames({parse})").result_rows[0][0]]
    types = ", ".join(f"toTypeName(tupleElement({parse}, '{n}'))" for n in names)
    return list(zip(names, map(str, client.query(f"SELECT {types}").result_rows[0]), strict=True))


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
        # and the views' reading of the text gives the very same values
        parse = f"crypto_parse_{table.split('.')[1].removeprefix('kafka_')}"
        same = clickhouse.query(
            f"SELECT toString({parse}({{row:String}})) = (SELECT toString(tuple(*)) "
            "FROM format(JSONEachRow, {structure:String}, {row:String}))",
            parameters={"structure": structure, "row": json.dumps(message)},
        ).result_rows
        assert same == [(1,)], topic
