"""contracts/<topic>.schema.json: generated from the wire models, matched by every other side.

The schemas are the one statement of each topic's message. Here: they are what the models
generate now, every example message is valid under its schema (and is what its model writes),
and ksqlDB's declared columns (ksqldb/*.sql) name and type the same fields. The producers'
real output is checked where each producer's tests read it (``assert_matches_contract``), and
ClickHouse's Kafka tables in tests/integration/test_contracts_clickhouse.py, on the real engine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jsonschema import Draft202012Validator

from provisioning.contracts import (
    CONTRACTS_DIR,
    WIRE_MODELS,
    example,
    json_schema,
    main,
    schema,
    schema_path,
    stale_schemas,
)
from tests.support.contract_schema import (
    clickhouse_reads,
    contract_validator,
    field_type,
    ksqldb_reads,
)
from tests.support.ksqldb_schema import ksqldb_sinks, ksqldb_sources

TOPICS = sorted(WIRE_MODELS)
# Written by ksqlDB, not by Python: their models state what ksqldb/*.sql emits.
KSQLDB_OUTPUT_TOPICS = ["coins_moving_average_60s", "coins_ohlc_minute"]


def test_committed_schemas_are_what_the_models_generate() -> None:
    assert stale_schemas() == [], "a wire model changed: run make contracts and commit"


def test_contracts_hold_one_schema_and_one_example_per_topic() -> None:
    assert sorted(p.name for p in CONTRACTS_DIR.glob("*.schema.json")) == [
        f"{topic}.schema.json" for topic in TOPICS
    ]
    assert sorted(p.name for p in CONTRACTS_DIR.glob("*.example.json")) == [
        f"{topic}.example.json" for topic in TOPICS
    ]
    assert sorted(p.name for p in CONTRACTS_DIR.glob("*.json")) == sorted(
        [f"{topic}.schema.json" for topic in TOPICS] + [f"{topic}.example.json" for topic in TOPICS]
    )


def test_the_generator_writes_then_finds_a_changed_schema(tmp_path: Path) -> None:
    assert main(["--check", "--directory", str(tmp_path)]) == 1  # nothing there yet
    assert main(["--directory", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        schema_path(topic).name for topic in TOPICS
    )
    assert main(["--check", "--directory", str(tmp_path)]) == 0
    edited = schema_path("coins_historical", tmp_path)
    edited.write_text(edited.read_text().replace('"rate"', '"price"'))
    assert main(["--check", "--directory", str(tmp_path)]) == 1
    assert stale_schemas(tmp_path) == [edited]


@pytest.mark.parametrize("topic", TOPICS)
def test_each_schema_is_a_closed_draft_2020_12_object(topic: str) -> None:
    committed = schema(topic)
    Draft202012Validator.check_schema(committed)
    assert committed == json_schema(topic)
    assert committed["type"] == "object"
    assert committed["additionalProperties"] is False
    # every field is always written, null included: all are required
    assert sorted(committed["required"]) == sorted(committed["properties"])
    for name, field in committed["properties"].items():
        assert name == name.lower(), "lower-case snake_case on the wire"
        if name.endswith("_ms"):
            assert field_type(field)[0]["type"] == "integer", "epoch ms are integers"


@pytest.mark.parametrize("topic", TOPICS)
def test_each_example_is_valid_and_is_what_its_model_writes(topic: str) -> None:
    message = example(topic)
    contract_validator(topic).validate(message)
    written = WIRE_MODELS[topic].model_validate(message).model_dump_json()
    assert json.loads(written) == message
    assert list(json.loads(written)) == list(schema(topic)["properties"])


@pytest.mark.parametrize("topic", TOPICS)
def test_each_schema_refuses_an_unknown_a_missing_or_a_mistyped_field(topic: str) -> None:
    validator = contract_validator(topic)
    message = example(topic)
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        validator.validate({**message, "unexpected": 1})
    first = next(iter(message))
    with pytest.raises(jsonschema.ValidationError, match="is a required property"):
        validator.validate({k: v for k, v in message.items() if k != first})
    integer_fields = [k for k, v in message.items() if isinstance(v, int) and k.endswith("_ms")]
    assert integer_fields, "every topic carries an epoch-ms time"
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'integer'"):
        validator.validate({**message, integer_fields[0]: "2025-01-01T00:00:00Z"})


def test_nullable_fields_default_to_null() -> None:
    """A message is built from what is known; the absent fields are null on the wire."""
    model = WIRE_MODELS["coins_historical"]
    message = model.model_validate(
        {"source": "s", "code": "BTC", "currency": "USD", "timestamp_ms": 1, "rate": 2.0}
    )
    written = json.loads(message.model_dump_json())
    assert (written["volume"], written["cap"], written["liquidity"]) == (None, None, None)
    contract_validator("coins_historical").validate(written)


# ---- ksqlDB ---------------------------------------------------------------------------------
def test_ksqldb_writes_exactly_the_topics_whose_model_states_its_output() -> None:
    assert sorted(sink.topic for sink in ksqldb_sinks()) == KSQLDB_OUTPUT_TOPICS


@pytest.mark.parametrize("topic", KSQLDB_OUTPUT_TOPICS)
def test_ksqldb_value_columns_are_the_schema_fields(topic: str) -> None:
    (sink,) = [sink for sink in ksqldb_sinks() if sink.topic == topic]
    properties = schema(topic)["properties"]
    # ksqlDB writes the value columns under their declared (backtick-quoted) names, in order
    assert [column.name for column in sink.value_columns] == list(properties)
    for column in sink.value_columns:
        assert ksqldb_reads(column.type, properties[column.name]), (sink.name, column)


def test_ksqldb_sources_read_fields_the_schema_has_with_its_types() -> None:
    sources = ksqldb_sources()
    assert sources, "ksqldb/*.sql declares no source stream"
    for source in sources:
        properties = schema(source.topic)["properties"]
        # KsqlJsonDeserializer (ksqldb-serde, confluentinc/ksql) matches an unquoted (upper-case)
        # column to a JSON field case-insensitively: RATE reads "rate"
        by_upper_name = {name.upper(): name for name in properties}
        for column in source.value_columns:
            assert column.name.upper() in by_upper_name, (source.name, column)
            field = properties[by_upper_name[column.name.upper()]]
            assert ksqldb_reads(column.type, field), (source.name, column)
        # the key is the coin code as UTF-8 text (KEY_FORMAT KAFKA), the schema's "code"
        assert [(c.name, c.type) for c in source.key_columns] == [("CODE", "VARCHAR")]
        assert field_type(properties["code"])[0]["type"] == "string"


# ---- the compatibility rules themselves -----------------------------------------------------
NUMBER: dict[str, Any] = {"type": "number"}
COUNT: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}


def nullable(field: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [field, {"type": "null"}]}


@pytest.mark.parametrize(
    ("clickhouse_type", "field", "reads"),
    [
        ("Float64", NUMBER, True),
        ("Nullable(Float64)", NUMBER, True),
        ("Float32", NUMBER, False),
        ("Float64", nullable(NUMBER), False),
        ("Nullable(Float64)", nullable(NUMBER), True),
        ("Int64", {"type": "integer"}, True),
        ("Int32", {"type": "integer"}, False),
        ("UInt64", {"type": "integer"}, False),
        ("UInt32", COUNT, True),
        ("UInt16", COUNT, False),
        ("UInt16", {"type": "integer", "minimum": 1, "maximum": 65535}, True),
        (
            "Nullable(UInt16)",
            nullable({"type": "integer", "minimum": 100, "maximum": 999}),
            True,
        ),
        ("DateTime64(3,'UTC')", {"type": "integer"}, False),
        ("String", {"type": "string"}, True),
        ("LowCardinality(String)", {"type": "string", "enum": ["a"]}, True),
        (
            "LowCardinality(Nullable(String))",
            nullable({"type": "string"}),
            True,
        ),
        ("String", nullable({"type": "string"}), False),
        (
            "Array(String)",
            nullable({"type": "array", "items": {"type": "string"}}),
            True,
        ),
        ("Array(Int64)", {"type": "array", "items": {"type": "string"}}, False),
        ("Map(String, Float64)", {"type": "object", "additionalProperties": NUMBER}, True),
        ("Map(String, Float32)", {"type": "object", "additionalProperties": NUMBER}, False),
        ("String", NUMBER, False),
    ],
)
def test_clickhouse_compatibility_rules(
    clickhouse_type: str, field: dict[str, Any], reads: bool
) -> None:
    assert clickhouse_reads(clickhouse_type, field) is reads


@pytest.mark.parametrize(
    ("ksql_type", "field", "reads"),
    [
        ("DOUBLE", NUMBER, True),
        ("DOUBLE", nullable(NUMBER), True),
        ("BIGINT", {"type": "integer"}, True),
        ("BIGINT", NUMBER, False),
        ("VARCHAR", {"type": "string"}, True),
        ("INTEGER", {"type": "string"}, False),
    ],
)
def test_ksqldb_compatibility_rules(ksql_type: str, field: dict[str, Any], reads: bool) -> None:
    assert ksqldb_reads(ksql_type, field) is reads
