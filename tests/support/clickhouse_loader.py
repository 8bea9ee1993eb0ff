"""Apply ``clickhouse/init/*.sql`` to a ClickHouse engine, with or without a Kafka engine.

chDB cannot run ``ENGINE = Kafka`` (it fails with ``Shutdown was called``). With
``replace_kafka=True`` every Kafka-engine table becomes a ``Null`` table with the same columns
plus the Kafka virtual columns; materialized views reading it still fire on insert, so
everything downstream is the project's SQL, unchanged. What each Kafka table consumed (topics,
format, format settings) is recorded so the bridge can emulate the engine.
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
INIT_DIR = REPO_ROOT / "clickhouse" / "init"
SERVER_CONFIG_DIR = REPO_ROOT / "clickhouse" / "config.d"

# The virtual columns the Kafka engine exposes (kafka_handle_error_mode='stream' adds the last two).
KAFKA_VIRTUAL_COLUMNS: dict[str, str] = {
    "_topic": "LowCardinality(String)",
    "_key": "String",
    "_offset": "UInt64",
    "_partition": "UInt64",
    "_timestamp": "Nullable(DateTime)",
    "_timestamp_ms": "Nullable(DateTime64(3))",
    "_error": "String",
    "_raw_message": "String",
}

_KAFKA_ENGINE = re.compile(r"\bENGINE\s*=\s*Kafka\b\s*(?:\((?P<args>[^)]*)\))?", re.IGNORECASE)
_CREATE_TABLE = re.compile(
    r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>[`\"\w.]+)", re.IGNORECASE
)
_SETTING = re.compile(r"(?P<key>\w+)\s*=\s*(?P<value>'(?:[^'\\]|\\.)*'|[^,\s]+)")


@dataclass(frozen=True)
class KafkaTable:
    """What one Kafka-engine table reads, as declared in its DDL (and named collection)."""

    name: str
    topics: tuple[str, ...]
    format: str
    columns: tuple[tuple[str, str], ...]
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def input_format_settings(self) -> dict[str, str]:
        """Format settings the engine applies when it parses each message."""
        return {
            k: v for k, v in self.settings.items() if k.startswith(("input_format_", "format_"))
        }


def split_statements(sql: str) -> list[str]:
    """Split SQL on ``;`` outside quotes and comments; comments stay with their statement."""
    statements: list[str] = []
    current: list[str] = []
    i, length = 0, len(sql)
    while i < length:
        char = sql[i]
        if char == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = length if end == -1 else end + 1
            current.append(sql[i:end])
            i = end
        elif char == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = length if end == -1 else end + 2
            current.append(sql[i:end])
            i = end
        elif char in "'\"`":
            j = i + 1
            while j < length:
                if sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == char:
                    if j + 1 < length and sql[j + 1] == char:
                        j += 2
                        continue
                    break
                j += 1
            current.append(sql[i : j + 1])
            i = j + 1
        elif char == ";":
            statements.append("".join(current))
            current = []
            i += 1
        else:
            current.append(char)
            i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if _strip_comments(s).strip()]


def _strip_comments(sql: str) -> str:
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.DOTALL)
    return re.sub(r"--[^\n]*", " ", sql)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"`":
        return value[1:-1]
    return value


def _column_list(ddl: str, engine_start: int) -> tuple[int, int]:
    """Positions of the parentheses around the column list that precedes ENGINE."""
    close = ddl.rfind(")", 0, engine_start)
    depth = 0
    for position in range(close, -1, -1):
        if ddl[position] == ")":
            depth += 1
        elif ddl[position] == "(":
            depth -= 1
            if depth == 0:
                return position, close
    raise ValueError(f"no column list before ENGINE in:\n{ddl}")


def _parse_columns(body: str) -> tuple[tuple[str, str], ...]:
    columns: list[tuple[str, str]] = []
    depth, start = 0, 0
    parts: list[str] = []
    for position, char in enumerate(body):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(body[start:position])
            start = position + 1
    parts.append(body[start:])
    for part in parts:
        text = _strip_comments(part).strip()
        if not text or text.upper().startswith(("INDEX ", "PROJECTION ", "CONSTRAINT ")):
            continue
        name, _, rest = text.partition(" ")
        column_type = re.split(r"\s+(?:DEFAULT|MATERIALIZED|ALIAS|CODEC|COMMENT)\b", rest)[0]
        columns.append((_unquote(name), column_type.strip()))
    return tuple(columns)


def _named_collection(name: str, config_dir: Path) -> dict[str, str]:
    """Settings of a named collection defined in the server's config.d XML files."""
    if not config_dir.is_dir():
        return {}
    for path in sorted(config_dir.glob("*.xml")):
        root = ET.parse(path).getroot()
        node = root.find(f"./named_collections/{name}")
        if node is not None:
            return {child.tag: _config_value(child) for child in node}
    return {}


def _config_value(node: ET.Element) -> str:
    """A config value; ``from_env="NAME"`` becomes ``${NAME}`` (see ``resolve_environment``)."""
    variable = node.get("from_env")
    return f"${{{variable}}}" if variable else (node.text or "").strip()


def resolve_environment(table: KafkaTable, environment: dict[str, str]) -> KafkaTable:
    """The table with every ``${NAME}`` setting taken from the server's environment."""
    settings = {
        key: re.sub(r"\$\{(\w+)\}", lambda m: environment.get(m.group(1), ""), value)
        for key, value in table.settings.items()
    }
    return dataclasses.replace(table, settings=settings)


def rewrite_kafka_table(
    ddl: str, config_dir: Path = SERVER_CONFIG_DIR
) -> tuple[str, KafkaTable] | None:
    """The Null-engine DDL and the Kafka declaration of a Kafka table; None for anything else."""
    code = _strip_comments(ddl)
    engine = _KAFKA_ENGINE.search(code)
    create = _CREATE_TABLE.match(code)
    if engine is None or create is None:
        return None
    open_paren, close_paren = _column_list(code, engine.start())
    columns = _parse_columns(code[open_paren + 1 : close_paren])
    settings: dict[str, str] = {}
    args = (engine.group("args") or "").strip()
    if args and "=" not in args and "," not in args:
        settings.update(_named_collection(_unquote(args), config_dir))
    elif args:
        positional = [_unquote(a) for a in args.split(",")]
        keys = ["kafka_broker_list", "kafka_topic_list", "kafka_group_name", "kafka_format"]
        settings.update(dict(zip(keys, positional, strict=False)))
    tail = code[engine.end() :]
    settings_clause = re.search(r"\bSETTINGS\b(?P<body>.*)$", tail, re.IGNORECASE | re.DOTALL)
    if settings_clause:
        for match in _SETTING.finditer(settings_clause.group("body")):
            settings[match.group("key")] = _unquote(match.group("value"))
    virtual = [
        f"`{name}` {column_type}"
        for name, column_type in KAFKA_VIRTUAL_COLUMNS.items()
        if name not in {column for column, _ in columns}
    ]
    null_ddl = (
        code[:close_paren].rstrip() + ",\n    " + ",\n    ".join(virtual) + "\n)\nENGINE = Null"
    )
    table = KafkaTable(
        name=_unquote(create.group("name")),
        topics=tuple(t.strip() for t in settings.get("kafka_topic_list", "").split(",") if t),
        format=settings.get("kafka_format", "JSONEachRow"),
        columns=columns,
        settings=settings,
    )
    return null_ddl, table


def sql_files(directory: Path = INIT_DIR) -> list[Path]:
    return sorted(directory.glob("*.sql"))


def load_sql_text(
    client: Any,
    sql: str,
    *,
    replace_kafka: bool = True,
    config_dir: Path = SERVER_CONFIG_DIR,
    source: str = "<sql>",
) -> dict[str, KafkaTable]:
    """Run every statement of ``sql`` in order; return the Kafka tables it declared, by name."""
    kafka_tables: dict[str, KafkaTable] = {}
    for statement in split_statements(sql):
        rewritten = rewrite_kafka_table(statement, config_dir)
        if rewritten is not None:
            kafka_tables[rewritten[1].name] = rewritten[1]
            if replace_kafka:
                statement = rewritten[0]
        try:
            client.command(statement)
        except Exception as error:
            raise RuntimeError(f"{source}: {error}\n--- statement ---\n{statement}") from error
    _REGISTRY[id(client)] = {**_REGISTRY.get(id(client), {}), **kafka_tables}
    return kafka_tables


def load_sql_dir(
    client: Any,
    directory: Path = INIT_DIR,
    *,
    replace_kafka: bool = True,
    config_dir: Path = SERVER_CONFIG_DIR,
) -> dict[str, KafkaTable]:
    """Run every ``*.sql`` file of ``directory`` in name order; return the Kafka tables by name."""
    kafka_tables: dict[str, KafkaTable] = {}
    for path in sql_files(directory):
        kafka_tables.update(
            load_sql_text(
                client,
                path.read_text(),
                replace_kafka=replace_kafka,
                config_dir=config_dir,
                source=path.name,
            )
        )
    return kafka_tables


def declared_kafka_tables(directory: Path = INIT_DIR) -> dict[str, KafkaTable]:
    """Kafka tables as the init SQL declares them, for a server that runs it unmodified."""
    tables: dict[str, KafkaTable] = {}
    for path in sql_files(directory):
        for statement in split_statements(path.read_text()):
            rewritten = rewrite_kafka_table(statement)
            if rewritten is not None:
                tables[rewritten[1].name] = rewritten[1]
    return tables


_REGISTRY: dict[int, dict[str, KafkaTable]] = {}


def kafka_tables(client: Any) -> dict[str, KafkaTable]:
    """The Kafka tables the loader replaced on this client, by qualified name."""
    return dict(_REGISTRY.get(id(client), {}))


def project_databases(directory: Path = INIT_DIR) -> list[str]:
    """Databases the init SQL creates (``CREATE DATABASE [IF NOT EXISTS] name``)."""
    names: list[str] = []
    for path in sql_files(directory):
        for match in re.finditer(
            r"CREATE\s+DATABASE\s+(?:IF\s+NOT\s+EXISTS\s+)?([`\"\w]+)",
            _strip_comments(path.read_text()),
            re.IGNORECASE,
        ):
            names.append(_unquote(match.group(1)))
    return names


def truncate_project_tables(client: Any, databases: list[str]) -> None:
    """Empty every stored table (MergeTree family, Memory, Log) of the given databases."""
    if not databases:
        return
    rows = client.query(
        "SELECT database, name FROM system.tables "
        "WHERE database IN {databases:Array(String)} "
        "AND (engine LIKE '%MergeTree' OR engine IN ('Memory', 'Log', 'TinyLog', 'StripeLog')) "
        # the temporary tables a refreshable materialized view fills before swapping them in
        "AND NOT startsWith(name, '.') AND NOT startsWith(name, '_tmp_replace_')",
        parameters={"databases": databases},
    ).result_rows
    for database, name in rows:
        client.command(f"TRUNCATE TABLE IF EXISTS `{database}`.`{name}`")
