"""The ClickHouse engine in-process (chDB) with the project's schema and real Kafka tables.

chDB runs ClickHouse's own Kafka table engine. What differs from a server (measured with
chdb-core 26.9, see docs/testing.md) is handled here and nowhere else:

- there is no ``config.d``: the Kafka named collections are created by SQL from the values
  of ``clickhouse/config.d/*.xml`` (``from_env`` resolved from a given environment: the broker,
  the consumer groups and the topic-name settings, ``producers.kafka.topics.topic_variables``);
- ``CREATE TABLE … ENGINE = Kafka`` (and ``ATTACH`` of such a table) raises
  ``Code: 49 … Shutdown was called. (LOGICAL_ERROR)`` although the table is created and
  consumes: exactly that error, on exactly those statements, is tolerated once the table is
  seen in ``system.tables``; any other error fails;
- one process per data path (a second one cannot lock ``<path>/status``);
- a data path that holds Kafka tables cannot be opened again (their startup raises the same
  error and chDB refuses to start): they must be set aside before chDB opens the path.

Consumption is awaited through the engine's own state: the consumer group's committed offsets
(the engine commits a block only after its materialized views ran) and, for diagnostics,
``system.kafka_consumers``.
"""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, UnknownTopicOrPartitionError

from producers.kafka.connection import KafkaConnection
from producers.kafka.topics import TopicSpec, ensure_topics, topic_partitions
from producers.retry import Deadline, NotReadyError, RetryPolicy, retry_async

REPO_ROOT = Path(__file__).resolve().parents[1]
INIT_DIR = REPO_ROOT / "clickhouse" / "init"
CONFIG_DIR = REPO_ROOT / "clickhouse" / "config.d"

BROKER_LIST_VARIABLE = "CLICKHOUSE_KAFKA_BROKER_LIST"
GROUP_VARIABLE_PREFIX = "CLICKHOUSE_KAFKA_GROUP_"
DEFAULT_GROUP_PREFIX = "clickhouse"  # compose.yaml's ${CLICKHOUSE_KAFKA_GROUP_PREFIX:-clickhouse}

# chDB's answer to a Kafka-engine CREATE/ATTACH that did create the table (see module doc).
KAFKA_CREATE_QUIRK = re.compile(r"Code: 49\.?.*Shutdown was called\. \(LOGICAL_ERROR\)", re.DOTALL)


def retriable_kafka_error(error: BaseException) -> bool:
    return isinstance(error, KafkaError) and bool(getattr(error, "retriable", False))


# Polling ClickHouse's consumer state: quick at first, never slower than half a second.
CONSUMPTION_POLL = RetryPolicy(
    attempts=None, initial_seconds=0.05, max_seconds=0.5, retry_on=(NotReadyError,)
)
# Kafka calls on a broker that is starting or coming back (coordinator not yet elected…).
KAFKA_CALL_RETRY = RetryPolicy(
    attempts=None, initial_seconds=0.1, max_seconds=1.0, retry_on=retriable_kafka_error
)

_KAFKA_ENGINE = re.compile(r"\bENGINE\s*=\s*Kafka\b\s*(?:\((?P<args>[^)]*)\))?", re.IGNORECASE)
_CREATE_OR_ATTACH_TABLE = re.compile(
    r"^\s*(?:CREATE|ATTACH)\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>[`\"\w.]+)",
    re.IGNORECASE,
)
_SETTING = re.compile(r"(?P<key>\w+)\s*=\s*(?P<value>'(?:[^'\\]|\\.)*'|[^,\s]+)")


class ConsumptionTimeoutError(TimeoutError):
    """The Kafka tables did not commit the awaited offsets before the deadline."""


@dataclass(frozen=True)
class KafkaTable:
    """One Kafka-engine table: what it reads and as which consumer group."""

    name: str  # database.table
    topics: tuple[str, ...]
    group: str
    settings: Mapping[str, str]


# ---- SQL text ------------------------------------------------------------------------------
def split_statements(sql: str) -> list[str]:
    """Split SQL on ``;`` outside quotes and comments; comments stay with their statement."""
    statements: list[str] = []
    current: list[str] = []
    i, length = 0, len(sql)
    while i < length:
        char = sql[i]
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            end = length if end == -1 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = length if end == -1 else end + 2
        elif char in "'\"`":
            end = _end_of_quoted(sql, i)
        elif char == ";":
            statements.append("".join(current))
            current = []
            i += 1
            continue
        else:
            end = i + 1
        current.append(sql[i:end])
        i = end
    statements.append("".join(current))
    return [s.strip() for s in statements if strip_comments(s).strip()]


def _end_of_quoted(sql: str, start: int) -> int:
    quote, j = sql[start], start + 1
    while j < len(sql):
        if sql[j] == "\\":
            j += 2
            continue
        if sql[j] == quote:
            if j + 1 < len(sql) and sql[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    return len(sql)


def strip_comments(sql: str) -> str:
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.DOTALL)
    return re.sub(r"--[^\n]*", " ", sql)


def unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"`":
        return value[1:-1]
    return value


def sql_files(directory: Path = INIT_DIR) -> list[Path]:
    return sorted(directory.glob("*.sql"))


# ---- named collections ---------------------------------------------------------------------
def collection_environment(
    bootstrap: str,
    group_prefix: str = DEFAULT_GROUP_PREFIX,
    config_dir: Path = CONFIG_DIR,
    *,
    topics: Mapping[str, str],
) -> dict[str, str]:
    """The variables ``config.d`` reads, as compose.yaml sets them, for a given broker.

    ``topics`` are the topic-name settings by variable (``producers.kafka.topics.topic_variables``),
    the same variables compose.yaml passes the server. compose.yaml names every group
    ``<prefix>_<suffix>`` where the variable is ``CLICKHOUSE_KAFKA_GROUP_<SUFFIX>`` (a unit
    test holds both to that convention).
    """
    environment = {**topics, BROKER_LIST_VARIABLE: bootstrap}
    for variable in _config_variables(config_dir):
        if variable.startswith(GROUP_VARIABLE_PREFIX):
            suffix = variable.removeprefix(GROUP_VARIABLE_PREFIX).lower()
            environment[variable] = f"{group_prefix}_{suffix}"
    return environment


def _config_variables(config_dir: Path) -> list[str]:
    return [
        node.attrib["from_env"]
        for path in sorted(config_dir.glob("*.xml"))
        for node in ET.parse(path).getroot().iter()  # noqa: S314 - our own config.d
        if "from_env" in node.attrib
    ]


def named_collections(
    environment: Mapping[str, str], config_dir: Path = CONFIG_DIR
) -> dict[str, dict[str, str]]:
    """Every named collection of ``config.d`` with its ``from_env`` values resolved."""
    collections: dict[str, dict[str, str]] = {}
    for path in sorted(config_dir.glob("*.xml")):
        root = ET.parse(path).getroot()  # noqa: S314 - the repository's own config.d
        for collection in root.findall("./named_collections/*"):
            values: dict[str, str] = {}
            for node in collection:
                variable = node.get("from_env")
                if variable is None:
                    values[node.tag] = (node.text or "").strip()
                elif variable in environment:
                    values[node.tag] = environment[variable]
                else:
                    raise KeyError(f"{path.name}: {collection.tag}.{node.tag} needs ${variable}")
            collections[collection.tag] = values
    return collections


def create_named_collections(client: Any, collections: Mapping[str, Mapping[str, str]]) -> None:
    """(Re)create each collection by SQL, as ``config.d`` would declare it on a server."""
    for name, values in collections.items():
        pairs = ", ".join(f"{key} = {_sql_string(value)}" for key, value in values.items())
        client.command(f"DROP NAMED COLLECTION IF EXISTS {name}")
        client.command(f"CREATE NAMED COLLECTION {name} AS {pairs}")


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# ---- Kafka tables --------------------------------------------------------------------------
def kafka_table(
    statement: str, collections: Mapping[str, Mapping[str, str]] | None = None
) -> KafkaTable | None:
    """The Kafka table a ``CREATE``/``ATTACH TABLE … ENGINE = Kafka`` declares; else None."""
    code = strip_comments(statement)
    engine = _KAFKA_ENGINE.search(code)
    create = _CREATE_OR_ATTACH_TABLE.match(code)
    if engine is None or create is None:
        return None
    settings: dict[str, str] = {}
    args = [unquote(a) for a in (engine.group("args") or "").split(",") if a.strip()]
    if len(args) == 1 and "=" not in args[0]:
        settings.update((collections or {}).get(args[0], {}))
    else:
        keys = ("kafka_broker_list", "kafka_topic_list", "kafka_group_name", "kafka_format")
        settings.update(zip(keys, args, strict=False))
    clause = re.search(r"\bSETTINGS\b(?P<body>.*)$", code[engine.end() :], re.I | re.DOTALL)
    if clause:
        for match in _SETTING.finditer(clause.group("body")):
            settings[match.group("key")] = unquote(match.group("value"))
    return KafkaTable(
        name=".".join(unquote(part) for part in create.group("name").split(".")),
        topics=tuple(t.strip() for t in settings.get("kafka_topic_list", "").split(",") if t),
        group=settings.get("kafka_group_name", ""),
        settings=settings,
    )


def declared_kafka_tables(
    collections: Mapping[str, Mapping[str, str]] | None = None, directory: Path = INIT_DIR
) -> dict[str, KafkaTable]:
    """The Kafka tables the init SQL declares, by qualified name."""
    tables: dict[str, KafkaTable] = {}
    for path in sql_files(directory):
        for statement in split_statements(path.read_text()):
            table = kafka_table(statement, collections)
            if table is not None:
                tables[table.name] = table
    return tables


def run_statement(client: Any, statement: str) -> None:
    """Run one statement; a Kafka-table CREATE/ATTACH may raise chDB's quirk, nothing else."""
    try:
        client.command(statement)
    except Exception as error:
        name = _created_or_attached_table(statement)
        if name is None or not KAFKA_CREATE_QUIRK.search(str(error)):
            raise
        database, _, table = name.rpartition(".")
        found = client.query(
            "SELECT count() FROM system.tables WHERE database = {db:String} "
            "AND name = {name:String} AND engine = 'Kafka'",
            parameters={"db": database or "default", "name": table},
        ).result_rows[0][0]
        if not found:
            raise RuntimeError(
                f"Kafka table {name} is not in system.tables after: {error}"
            ) from error


def _created_or_attached_table(statement: str) -> str | None:
    """The table of a Kafka-engine CREATE, or of a bare ``ATTACH TABLE name`` (whose engine
    the existence check then proves to be Kafka); None for anything else."""
    table = kafka_table(statement)
    if table is not None:
        return table.name
    bare = re.fullmatch(
        r"\s*ATTACH\s+TABLE\s+(?P<name>[`\"\w.]+)\s*", strip_comments(statement), re.I
    )
    if bare is None:
        return None
    return ".".join(unquote(part) for part in bare.group("name").split("."))


def apply_sql(client: Any, sql: str, source: str = "<sql>") -> None:
    for statement in split_statements(sql):
        try:
            run_statement(client, statement)
        except Exception as error:
            raise RuntimeError(f"{source}: {error}\n--- statement ---\n{statement}") from error


def apply_init(client: Any, directory: Path = INIT_DIR) -> None:
    """Run every ``*.sql`` of ``directory`` unchanged, in name order."""
    for path in sql_files(directory):
        apply_sql(client, path.read_text(), source=path.name)


# ---- Kafka state ---------------------------------------------------------------------------
async def retry_kafka_call(operation: Any, describe: str, deadline_s: float) -> Any:
    """``operation()``, retried on retriable Kafka errors until ``deadline_s`` seconds passed."""
    return await retry_async(
        operation, KAFKA_CALL_RETRY, deadline=Deadline.after(deadline_s), describe=describe
    )


async def create_topics(
    connection: KafkaConnection,
    topics: Iterable[str],
    deadline_s: float = 60.0,
    partitions: int = 1,
) -> None:
    """Create missing topics before a Kafka table reads them: the engine only notices a topic
    created later at its next metadata refresh (measured: minutes)."""
    specs = [TopicSpec(topic, partitions, replication_factor=1) for topic in sorted(set(topics))]
    if specs:
        await retry_kafka_call(
            lambda: ensure_topics(connection, specs), "create the Kafka tables' topics", deadline_s
        )


async def end_offsets(
    connection: KafkaConnection, topic: str, deadline_s: float = 60.0
) -> dict[TopicPartition, int]:
    """The next offset of every partition of ``topic``; an unknown topic is an error."""

    async def fetch() -> dict[TopicPartition, int]:
        found = await topic_partitions(connection, topic)
        if not found:
            # retriable: the topic may be on its way (created by another process)
            raise UnknownTopicOrPartitionError(f"topic {topic!r} does not exist")
        partitions = [TopicPartition(topic, partition) for partition in found]
        consumer = AIOKafkaConsumer(**connection.client_options(), enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()
        return {tp: int(offset) for tp, offset in ends.items()}

    result: dict[TopicPartition, int] = await retry_kafka_call(
        fetch, f"read the end offsets of {topic!r}", deadline_s
    )
    return result


async def committed_offsets(
    connection: KafkaConnection,
    group: str,
    partitions: Iterable[TopicPartition],
    deadline_s: float = 60.0,
) -> dict[TopicPartition, int]:
    """What ``group`` committed on each partition (-1 where it committed nothing)."""
    wanted = list(partitions)

    async def fetch() -> dict[TopicPartition, int]:
        admin = AIOKafkaAdminClient(**connection.client_options())
        await admin.start()
        try:
            answer = await admin.list_consumer_group_offsets(group, partitions=wanted)
        finally:
            await admin.close()
        return {tp: (answer[tp].offset if tp in answer else -1) for tp in wanted}

    result: dict[TopicPartition, int] = await retry_kafka_call(
        fetch, f"read the offsets committed by {group!r}", deadline_s
    )
    return result


async def wait_until_committed(
    connection: KafkaConnection,
    group: str,
    targets: Mapping[TopicPartition, int],
    timeout_s: float = 60.0,
    diagnose: Any = None,
) -> None:
    """Return once ``group`` committed at least ``targets`` (next offsets) on every partition.

    An empty ``targets`` is an error, never an immediate success. ``diagnose()`` (optional)
    returns text added to the timeout error, e.g. ``system.kafka_consumers``.
    """
    if not targets:
        raise ValueError(f"nothing to wait for: no partition given for group {group!r}")
    pending = {tp: end for tp, end in targets.items() if end > 0}
    if not pending:
        return
    deadline = Deadline.after(timeout_s)
    last: dict[TopicPartition, int] = {}

    async def poll() -> None:
        remaining = max(deadline.remaining, 0.1)
        last.update(await committed_offsets(connection, group, pending, remaining))
        behind = {tp: end for tp, end in pending.items() if last[tp] < end}
        if behind:
            raise NotReadyError(f"{group!r} behind on {sorted(behind)}")

    try:
        await retry_async(poll, CONSUMPTION_POLL, deadline=deadline)
    except NotReadyError as error:
        seen = {f"{tp.topic}[{tp.partition}]": last.get(tp) for tp in pending}
        wanted = {f"{tp.topic}[{tp.partition}]": end for tp, end in pending.items()}
        detail = f"\n{diagnose()}" if diagnose is not None else ""
        raise ConsumptionTimeoutError(
            f"consumer group {group!r} committed {seen}, not {wanted}, within {timeout_s} s{detail}"
        ) from error


def kafka_consumers(client: Any) -> str:
    """``system.kafka_consumers`` as text: assignments, offsets, commits and the last errors."""
    rows = client.query(
        "SELECT database, table, assignments.topic, assignments.partition_id, "
        "assignments.current_offset, num_messages_read, num_commits, is_currently_used, "
        "exceptions.text FROM system.kafka_consumers ORDER BY database, table"
    ).result_rows
    return "system.kafka_consumers:\n" + "\n".join(f"  {row}" for row in rows)


# ---- the engine ----------------------------------------------------------------------------
@dataclass
class EmbeddedClickHouse:
    """A chDB engine on one data path with the project's schema, reading one Kafka broker."""

    client: Any
    connection: KafkaConnection
    kafka_tables: dict[str, KafkaTable]

    def table(self, name: str | None = None, *, topic: str | None = None) -> KafkaTable:
        return find_kafka_table(self.kafka_tables, name, topic=topic)

    def wait_consumed(
        self, table: KafkaTable, targets: Mapping[TopicPartition, int], timeout_s: float = 60.0
    ) -> None:
        """Block until ``table``'s group committed ``targets`` (the views ran by then)."""
        wait_for_table(self.client, self.connection, table, targets, timeout_s)

    def wait_caught_up(self, table: KafkaTable, timeout_s: float = 60.0) -> None:
        """Block until ``table`` consumed everything now on its topics."""
        targets: dict[TopicPartition, int] = {}
        for topic in table.topics:
            targets.update(asyncio.run(end_offsets(self.connection, topic, timeout_s)))
        self.wait_consumed(table, targets, timeout_s)

    def close(self) -> None:
        self.client.close()


def wait_for_table(
    client: Any,
    connection: KafkaConnection,
    table: KafkaTable,
    targets: Mapping[TopicPartition, int],
    timeout_s: float = 60.0,
) -> None:
    if not table.group:
        raise LookupError(f"{table.name} has no kafka_group_name to wait for")
    asyncio.run(
        wait_until_committed(
            connection, table.group, targets, timeout_s, diagnose=lambda: kafka_consumers(client)
        )
    )


def find_kafka_table(
    tables: Mapping[str, KafkaTable], name: str | None = None, *, topic: str | None = None
) -> KafkaTable:
    """The Kafka table called ``name`` (qualified or not), else the one table reading ``topic``."""
    if name is not None:
        matches = [t for key, t in tables.items() if name in (key, key.split(".")[-1])]
        wanted = f"a Kafka table named {name!r}"
    else:
        matches = [t for t in tables.values() if topic in t.topics]
        wanted = f"one Kafka table reading topic {topic!r}"
    if len(matches) != 1:
        raise LookupError(f"expected {wanted}; found {[t.name for t in matches]} in {list(tables)}")
    return matches[0]


def set_kafka_tables_aside(data_path: Path) -> list[str]:
    """Before chDB opens an existing data path: set its Kafka tables aside, as ClickHouse's own
    ``DETACH TABLE … PERMANENTLY`` would (``<table>.sql`` becomes ``<table>.sql.detached``).

    chDB fails to start on a path holding a Kafka table (measured, chdb-core 26.9: ``Load job
    'startup table crypto.kafka_…' failed: Code: 49 … Shutdown was called`` and then ``Error
    initializing EmbeddedServer``): the same quirk as on CREATE, but fatal at startup. A Kafka
    table stores nothing (its consumer group's offsets live in Kafka), so ``apply_init``
    recreates it from ``clickhouse/init`` and it resumes from the committed offsets; its
    materialized views attach to the new table by name. Returns the tables set aside.
    """
    metadata = data_path / "metadata"
    moved: list[str] = []
    if not metadata.is_dir():
        return moved
    for database in sorted(p for p in metadata.iterdir() if p.is_dir()):
        for definition in sorted(database.glob("*.sql")):
            if _KAFKA_ENGINE.search(strip_comments(definition.read_text())):
                definition.replace(definition.with_name(definition.name + ".detached"))
                moved.append(f"{database.name}.{definition.stem}")
    return moved


def open_client(data_path: Path) -> Any:
    """A clickhouse-connect client on chDB at ``data_path`` (one process per path)."""
    import clickhouse_connect

    return clickhouse_connect.get_client(dsn=f"chdb://{data_path.resolve()}")


def open_embedded(
    data_path: Path,
    connection: KafkaConnection,
    *,
    topics: Mapping[str, str],
    group_prefix: str = DEFAULT_GROUP_PREFIX,
    init_dir: Path = INIT_DIR,
    config_dir: Path = CONFIG_DIR,
    timeout_s: float = 60.0,
) -> EmbeddedClickHouse:
    """chDB at ``data_path`` with the project's schema, its Kafka tables reading ``connection``.

    ``topics``: the topic names by setting variable (``producers.kafka.topics.topic_variables``); a
    variable ``config.d`` reads and ``topics`` lacks is an error. Topics are created first, then
    the named collections, then the init SQL, unchanged.
    """
    environment = collection_environment(
        connection.bootstrap_servers, group_prefix, config_dir, topics=topics
    )
    collections = named_collections(environment, config_dir)
    tables = declared_kafka_tables(collections, init_dir)
    read = [topic for table in tables.values() for topic in table.topics]
    asyncio.run(create_topics(connection, read, timeout_s))
    set_kafka_tables_aside(data_path)
    client = open_client(data_path)
    try:
        create_named_collections(client, collections)
        apply_init(client, init_dir)
    except Exception:
        client.close()
        raise
    return EmbeddedClickHouse(client, connection, tables)
