"""What each ksqlDB table writes and what each ClickHouse Kafka table reads, parsed from the SQL.

Both sides are read from the files the stack runs (``ksqldb/*.sql`` and ``clickhouse/init/*.sql``,
whose topics come from the named collections of ``clickhouse/config.d``) with the default topic
settings, so the contract between them is checked by a test instead of by eye.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from alerts.settings import AlertSettings
from embedded import clickhouse as clickhouse_sql
from producers.kafka.topics import topic_defaults
from producers.settings import Settings
from provisioning.ksqldb_statements import load_statements, strip_comments, with_property
from tests.support.compose_env import REPO_ROOT

KSQLDB_DIR = REPO_ROOT / "ksqldb"
CLICKHOUSE_INIT_DIR = REPO_ROOT / "clickhouse" / "init"

_TYPED_FUNCTIONS = {
    "COUNT": "BIGINT",
    "AVG": "DOUBLE",
    "WINDOWSTART": "BIGINT",
    "WINDOWEND": "BIGINT",
}
_TYPE_PRESERVING_FUNCTIONS = {
    "AS_VALUE",
    "MIN",
    "MAX",
    "SUM",
    "EARLIEST_BY_OFFSET",
    "LATEST_BY_OFFSET",
}
# ksqlDB type -> ClickHouse types that read its JSON value without loss.
COMPATIBLE_TYPES = {
    "VARCHAR": {"String", "LowCardinality(String)"},
    "STRING": {"String", "LowCardinality(String)"},
    "BIGINT": {"Int64", "UInt64"},
    "INTEGER": {"Int32", "Int64", "UInt32", "UInt64"},
    "INT": {"Int32", "Int64", "UInt32", "UInt64"},
    "DOUBLE": {"Float64"},
    "BOOLEAN": {"Bool", "UInt8"},
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(frozen=True)
class KsqlRelation:
    """A ksqlDB stream or table and its topic: the value columns a CREATE ... AS SELECT writes
    (in order), or those a CREATE STREAM/TABLE over a topic reads, with its key columns."""

    name: str
    topic: str
    value_columns: tuple[Column, ...]
    key_columns: tuple[Column, ...] = ()


@dataclass(frozen=True)
class ClickHouseKafkaTable:
    name: str
    topics: tuple[str, ...]
    columns: tuple[Column, ...]


def _unquoted(text: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """Each character outside quotes and backticks from ``start``: its position, the character
    and the parenthesis depth before it."""
    depth = 0
    quote: str | None = None
    for position in range(start, len(text)):
        char = text[position]
        if quote or char in "'`\"":
            quote = None if char == quote else quote or char
            continue
        yield position, char, depth
        depth += {"(": 1, ")": -1}.get(char, 0)


def split_top_level(text: str, separator: str = ",") -> list[str]:
    """Split on ``separator`` outside parentheses, quotes and backticks."""
    cuts = [at for at, char, depth in _unquoted(text) if char == separator and depth == 0]
    parts = [text[a + 1 : b].strip() for a, b in itertools.pairwise([-1, *cuts, len(text)])]
    return parts if parts[-1] else parts[:-1]


def parenthesised(text: str, open_at: int) -> tuple[str, int]:
    """The text inside the parentheses opening at ``open_at``, and the index after them."""
    for position, char, depth in _unquoted(text, open_at):
        if char == ")" and depth == 1:
            return text[open_at + 1 : position], position + 1
    raise ValueError(f"unbalanced parentheses from offset {open_at}")


def ksql_identifier(token: str) -> str:
    """ksqlDB identifier rules: backticks keep case, bare names are upper-cased."""
    token = token.strip()
    if token.startswith("`") and token.endswith("`"):
        return token[1:-1]
    return token.upper()


def _source_streams(statements: list[str]) -> dict[str, dict[str, tuple[str, bool]]]:
    """Declared streams: name -> column -> (type, is_key)."""
    streams: dict[str, dict[str, tuple[str, bool]]] = {}
    pattern = re.compile(
        r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:SOURCE\s+)?(?:STREAM|TABLE)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
        r"(?P<name>`[^`]+`|\w+)\s*\(",
        re.IGNORECASE,
    )
    for statement in statements:
        match = pattern.match(statement)
        if not match or re.search(r"\bAS\s+SELECT\b", statement, re.IGNORECASE):
            continue
        body, _ = parenthesised(statement, match.end() - 1)
        columns: dict[str, tuple[str, bool]] = {}
        for definition in split_top_level(body):
            tokens = definition.split()
            is_key = tokens[-1].upper() in {"KEY", "PRIMARY"} or "PRIMARY KEY" in definition.upper()
            type_tokens = [token for token in tokens[1:] if token.upper() not in {"KEY", "PRIMARY"}]
            columns[ksql_identifier(tokens[0])] = (" ".join(type_tokens).upper(), is_key)
        streams[ksql_identifier(match.group("name"))] = columns
    return streams


def _expression_type(expression: str, source: dict[str, tuple[str, bool]]) -> str:
    expression = expression.strip()
    call = re.match(r"^(?P<function>\w+)\s*\((?P<argument>.*)\)$", expression, re.DOTALL)
    if call:
        function = call.group("function").upper()
        if function in _TYPED_FUNCTIONS:
            return _TYPED_FUNCTIONS[function]
        if function in _TYPE_PRESERVING_FUNCTIONS:
            return _expression_type(call.group("argument"), source)
        raise ValueError(f"no type rule for ksqlDB function {function}")
    if expression.upper() in _TYPED_FUNCTIONS:
        return _TYPED_FUNCTIONS[expression.upper()]
    name = ksql_identifier(expression)
    if name not in source:
        raise ValueError(f"unknown column {expression!r}")
    return source[name][0]


def ksqldb_sources(directory: Path = KSQLDB_DIR) -> list[KsqlRelation]:
    """Every CREATE STREAM/TABLE with declared columns (not AS SELECT) and the topic it reads."""
    sources: list[KsqlRelation] = []
    statements = load_statements(directory, topic_defaults(Settings))
    for text in (strip_comments(statement.resolved) for statement in statements):
        for name, columns in _source_streams([text]).items():
            topic = with_property(text, "KAFKA_TOPIC") or name
            values = tuple(Column(c, kind) for c, (kind, key) in columns.items() if not key)
            keys = tuple(Column(c, kind) for c, (kind, key) in columns.items() if key)
            sources.append(KsqlRelation(name, topic, values, keys))
    return sources


def ksqldb_sinks(directory: Path = KSQLDB_DIR) -> list[KsqlRelation]:
    """Every CREATE ... AS SELECT in the ksqlDB files with the value columns it writes."""
    statements = load_statements(directory, topic_defaults(Settings))
    texts = [strip_comments(statement.resolved) for statement in statements]
    streams = _source_streams(texts)
    sinks: list[KsqlRelation] = []
    header = re.compile(
        r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:STREAM|TABLE)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
        r"(?P<name>`[^`]+`|\w+)",
        re.IGNORECASE,
    )
    for text in texts:
        select = re.search(
            r"\bAS\s+SELECT\b(?P<items>.*?)\bFROM\s+(?P<source>`[^`]+`|\w+)",
            text,
            re.IGNORECASE | re.DOTALL,
        )
        match = header.match(text)
        if not select or not match:
            continue
        source = streams[ksql_identifier(select.group("source"))]
        columns: list[Column] = []
        for item in split_top_level(select.group("items")):
            aliased = re.match(
                r"^(?P<expression>.*?)\s+AS\s+(?P<alias>`[^`]+`|\w+)$",
                item,
                re.IGNORECASE | re.DOTALL,
            )
            expression = aliased.group("expression") if aliased else item
            name = ksql_identifier(aliased.group("alias") if aliased else item)
            if not aliased and source.get(name, ("", False))[1]:
                continue  # a bare key column stays in the (binary, windowed) Kafka key
            columns.append(Column(name, _expression_type(expression, source)))
        topic = with_property(text, "KAFKA_TOPIC") or ksql_identifier(match.group("name"))
        sinks.append(KsqlRelation(ksql_identifier(match.group("name")), topic, tuple(columns)))
    return sinks


_CLICKHOUSE_COLUMN_KEYWORDS = re.compile(
    r"\s+(?:DEFAULT|MATERIALIZED|ALIAS|EPHEMERAL|CODEC|COMMENT|TTL|SETTINGS)\b", re.IGNORECASE
)


def _clickhouse_statements(directory: Path) -> list[str]:
    return [
        clickhouse_sql.strip_comments(statement).strip()
        for path in clickhouse_sql.sql_files(directory)
        for statement in clickhouse_sql.split_statements(path.read_text(encoding="utf-8"))
    ]


_PARSE_FUNCTION = re.compile(
    r"^\s*CREATE\s+FUNCTION\s+(?:IF\s+NOT\s+EXISTS\s+)?crypto_parse_(?P<name>\w+)\s+AS\b"
    r".*?'Tuple\((?P<columns>.*)\)'\s*\)\s*$",
    re.IGNORECASE | re.DOTALL,
)


def clickhouse_parse_functions(
    directory: Path = CLICKHOUSE_INIT_DIR,
) -> dict[str, tuple[Column, ...]]:
    """The columns each ``crypto_parse_<name>`` function reads from a message, by ``<name>``."""
    functions: dict[str, tuple[Column, ...]] = {}
    for statement in _clickhouse_statements(directory):
        match = _PARSE_FUNCTION.match(statement)
        if match:
            functions[match.group("name")] = _column_definitions(match.group("columns"))
    return functions


def _column_definitions(body: str) -> tuple[Column, ...]:
    columns: list[Column] = []
    for definition in split_top_level(body):
        if re.match(r"^(?:INDEX|PROJECTION|CONSTRAINT)\b", definition, re.IGNORECASE):
            continue
        name, _, rest = definition.strip().partition(" ")
        column_type = _CLICKHOUSE_COLUMN_KEYWORDS.split(rest.strip(), maxsplit=1)[0]
        columns.append(Column(name.strip('`"'), re.sub(r"\s+", "", column_type)))
    return tuple(columns)


def clickhouse_kafka_tables(directory: Path = CLICKHOUSE_INIT_DIR) -> list[ClickHouseKafkaTable]:
    """Every ``ENGINE = Kafka`` table of the ClickHouse init SQL (``declared_kafka_tables``, with
    the default topic settings) and the columns its views read: a table ``crypto.kafka_<name>``
    keeps each message's text (JSONAsString) and ``crypto_parse_<name>`` reads the columns."""
    collections = clickhouse_sql.named_collections(
        clickhouse_sql.collection_environment(
            "unused:9092", topics=topic_defaults(Settings, AlertSettings)
        )
    )
    parse_functions = clickhouse_parse_functions(directory)
    return [
        ClickHouseKafkaTable(
            name, table.topics, parse_functions.get(name.split(".")[-1].removeprefix("kafka_"), ())
        )
        for name, table in clickhouse_sql.declared_kafka_tables(collections, directory).items()
    ]


def clickhouse_type_accepts(clickhouse_type: str, ksql_type: str) -> bool:
    """Whether a ClickHouse column of ``clickhouse_type`` reads a ksqlDB ``ksql_type`` value."""
    unwrapped = clickhouse_type
    nullable = re.fullmatch(r"Nullable\((?P<inner>.+)\)", unwrapped)
    if nullable:
        unwrapped = nullable.group("inner")
    if unwrapped.startswith("LowCardinality(Nullable("):
        unwrapped = "LowCardinality(" + unwrapped[len("LowCardinality(Nullable(") : -2] + ")"
    return unwrapped in COMPATIBLE_TYPES.get(ksql_type.upper(), set())
