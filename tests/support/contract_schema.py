"""Whether a column declared by another engine reads a field of a topic's JSON Schema.

The schemas (contracts/<topic>.schema.json) are the one statement of each message; ksqlDB's
declared columns and ClickHouse's Kafka tables are checked against them with these rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from provisioning.contracts import schema
from tests.support.ksqldb_schema import split_top_level

# ksqlDB's JSON format writes and reads these SQL types as these JSON types
# (docs/reference/serialization.md and KsqlJsonDeserializer, github.com/confluentinc/ksql).
KSQL_JSON_TYPES = {
    "VARCHAR": "string",
    "STRING": "string",
    "BIGINT": "integer",
    "INTEGER": "integer",
    "INT": "integer",
    "DOUBLE": "number",
    "BOOLEAN": "boolean",
}
# The values each ClickHouse integer type stores.
CLICKHOUSE_INTEGER_RANGES = {
    "Int8": (-(2**7), 2**7 - 1),
    "Int16": (-(2**15), 2**15 - 1),
    "Int32": (-(2**31), 2**31 - 1),
    "Int64": (-(2**63), 2**63 - 1),
    "UInt8": (0, 2**8 - 1),
    "UInt16": (0, 2**16 - 1),
    "UInt32": (0, 2**32 - 1),
    "UInt64": (0, 2**64 - 1),
}
# An integer field with no stated bound can be any int64 (JSON readers of every side).
UNBOUNDED = CLICKHOUSE_INTEGER_RANGES["Int64"]


def field_type(field: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The field's schema without its null alternative, and whether null is allowed."""
    options = field.get("anyOf")
    if options is None:
        return field, False
    values = [option for option in options if option.get("type") != "null"]
    assert len(values) == 1, f"one non-null type expected, got {options}"
    return values[0], len(values) < len(options)


def _inside(clickhouse_type: str, wrapper: str) -> str | None:
    prefix = f"{wrapper}("
    if clickhouse_type.startswith(prefix) and clickhouse_type.endswith(")"):
        return clickhouse_type[len(prefix) : -1]
    return None


def clickhouse_reads(clickhouse_type: str, field: dict[str, Any]) -> bool:
    """Whether a JSONEachRow column of ``clickhouse_type`` stores every value ``field`` allows
    without loss: same kind, the integer range inside the column's, null only into Nullable
    (or into an Array/Map, where ClickHouse's input_format_null_as_default stores it empty)."""
    column = clickhouse_type.replace(" ", "")
    column = _inside(column, "LowCardinality") or column
    value, nullable = field_type(field)
    inner = _inside(column, "Nullable")
    if inner is not None:
        column = inner
    elif nullable and not column.startswith(("Array(", "Map(")):
        return False
    kind = value.get("type")
    if kind == "string":
        return column == "String"
    if kind == "number":
        return column == "Float64"
    if kind == "boolean":
        return column in {"Bool", "UInt8"}
    if kind == "integer":
        if column not in CLICKHOUSE_INTEGER_RANGES:
            return False
        low, high = CLICKHOUSE_INTEGER_RANGES[column]
        minimum = value.get("minimum", UNBOUNDED[0])
        maximum = value.get("maximum", UNBOUNDED[1])
        return bool(low <= minimum and maximum <= high)
    if kind == "array":
        items = _inside(column, "Array")
        return items is not None and clickhouse_reads(items, value["items"])
    if kind == "object":
        entries = _inside(column, "Map")
        if entries is None:
            return False
        key, entry = split_top_level(entries)
        return key == "String" and clickhouse_reads(entry, value["additionalProperties"])
    return False


def ksqldb_reads(ksql_type: str, field: dict[str, Any]) -> bool:
    """Whether a ksqlDB column of ``ksql_type`` (JSON format) is the field's JSON type."""
    value, _ = field_type(field)
    return KSQL_JSON_TYPES.get(ksql_type.upper()) == value.get("type")


@cache
def contract_validator(topic: str) -> Draft202012Validator:
    """A validator of the topic's committed schema (contracts/<topic>.schema.json)."""
    return Draft202012Validator(schema(topic))


def assert_matches_contract(topic: str, values: Iterable[bytes | str | dict[str, Any]]) -> None:
    """Every message value (raw bytes or decoded) is valid under the topic's schema; at least
    one value is given, so a test that published nothing does not pass by accident."""
    checked = 0
    for value in values:
        message = value if isinstance(value, dict) else json.loads(value)
        contract_validator(topic).validate(message)
        checked += 1
    assert checked, f"no {topic} message to check against its contract"
