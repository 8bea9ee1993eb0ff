"""Static rules of clickhouse/init and its server config: order, one object per file, idempotent
DDL, contract-exact Kafka columns, no credentials in SQL, every file listed in the README."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from alerts.settings import AlertSettings
from embedded.clickhouse import CONFIG_DIR as SERVER_CONFIG_DIR
from embedded.clickhouse import (
    INIT_DIR,
    collection_environment,
    kafka_table,
    named_collections,
    split_statements,
    strip_comments,
)
from producers.kafka.topics import topic_defaults
from producers.settings import Settings
from provisioning.contracts import example
from tests.support.ksqldb_schema import clickhouse_kafka_tables

REPO_ROOT = INIT_DIR.parents[1]
SQL_FILES = sorted(INIT_DIR.glob("*.sql"))
USERS_FILE = REPO_ROOT / "clickhouse" / "users.d" / "crypto_users.xml"
KAFKA_CONFIG_FILE = SERVER_CONFIG_DIR / "crypto_kafka.xml"
CREATE = re.compile(
    r"CREATE\s+(?P<kind>DATABASE|TABLE|MATERIALIZED\s+VIEW|VIEW|FUNCTION)\s+(?P<guard>IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>[\w.]+)",
    re.IGNORECASE,
)
COLLECTIONS = {
    node.tag
    for node in ET.parse(SERVER_CONFIG_DIR / "crypto_kafka.xml").getroot().iter()
    if node.tag.startswith("kafka_coins")
}
COLLECTION_KEYS = {"kafka_topic_list", "kafka_broker_list", "kafka_group_name"}
# The collections as the server resolves them with the default topic settings.
RESOLVED_COLLECTIONS = named_collections(
    collection_environment("kafka:9092", topics=topic_defaults(Settings, AlertSettings))
)
TOPIC_TABLES = {
    "coins_current_full": "crypto.kafka_coins_current_full",
    "coins_historical": "crypto.kafka_coins_historical",
    "coins_ohlc_minute": "crypto.kafka_coins_ohlc_minute",
    "coins_moving_average_60s": "crypto.kafka_coins_moving_average_60s",
    "portfolio_transactions": "crypto.kafka_portfolio_transactions",
    "coins_alerts": "crypto.kafka_coins_alerts",
    "coins_alerts_deliveries": "crypto.kafka_coins_alerts_deliveries",
}


def test_files_are_numbered_and_unique() -> None:
    assert SQL_FILES, "clickhouse/init has no SQL"
    prefixes = [path.name.split("_", 1)[0] for path in SQL_FILES]
    assert all(re.fullmatch(r"\d{3}", prefix) for prefix in prefixes)
    assert len(set(prefixes)) == len(prefixes)


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: p.name)
def test_each_file_starts_with_a_comment_and_creates_one_object_idempotently(path: Path) -> None:
    text = path.read_text()
    first_line = text.splitlines()[0]
    assert first_line.startswith("-- ")
    assert len(first_line) > 20
    statements = split_statements(text)
    assert len(statements) == 1
    creates = CREATE.findall(re.sub(r"--[^\n]*", "", statements[0]))
    assert len(creates) == 1
    kind, guard, name = creates[0]
    assert guard, f"{path.name}: CREATE {kind} without IF NOT EXISTS"
    object_name = name.split(".")[-1]
    assert not object_name[0].isdigit()
    if kind.upper() == "FUNCTION":  # functions are server-wide: the prefix names the project
        assert name.startswith("crypto_")
    elif kind.upper() != "DATABASE":
        assert name.startswith("crypto.")


def test_readme_lists_every_file_in_order() -> None:
    readme = (INIT_DIR / "README.md").read_text()
    listed = re.findall(r"^\| `(\d{3}_[\w]+\.sql)` \|", readme, re.MULTILINE)
    assert listed == [path.name for path in SQL_FILES]


@pytest.mark.parametrize("topic", sorted(TOPIC_TABLES))
def test_kafka_table_columns_are_exactly_the_contract_fields(topic: str) -> None:
    contract = example(topic)
    statements = [s for path in SQL_FILES for s in split_statements(path.read_text())]
    readers = [
        table
        for statement in statements
        if (table := kafka_table(statement, RESOLVED_COLLECTIONS)) is not None
        and topic in table.topics
    ]
    assert [table.name for table in readers] == [TOPIC_TABLES[topic]]
    # what the SQL itself sets, without its named collection
    ((table, text),) = [
        (table, strip_comments(statement))
        for statement in statements
        if (table := kafka_table(statement, {name: {} for name in COLLECTIONS})) is not None
        and table.name == readers[0].name
    ]
    (declared,) = [t for t in clickhouse_kafka_tables(INIT_DIR) if t.name == table.name]
    assert [column.name for column in declared.columns] == list(contract)
    types = {column.name: column.type for column in declared.columns}
    assert not any("Float32" in column_type for column_type in types.values())
    for field, value in contract.items():
        if field.endswith("_ms"):
            assert types[field] == "Int64", "epoch ms stay integers on the wire"
        if isinstance(value, float):
            assert "Float64" in types[field]
    # the table keeps each message's text, so a rejected one is stored as it arrived; its views
    # read the columns with crypto_parse_<topic> (the columns checked above)
    assert table.settings["kafka_format"] == "JSONAsString"
    assert re.search(r"\(\s*message\s+String\s*\)\s*ENGINE", text), table.name
    assert table.settings["kafka_handle_error_mode"] == "stream"
    assert int(table.settings["kafka_flush_interval_ms"]) <= 1000
    # topic, broker list and consumer group come from the named collection, from the environment
    assert table.settings.keys() & COLLECTION_KEYS == set()


def test_named_collections_read_topics_brokers_and_groups_from_the_environment() -> None:
    root = ET.parse(KAFKA_CONFIG_FILE).getroot()
    collections = root.find("named_collections")
    assert collections is not None
    for table in TOPIC_TABLES.values():
        node = collections.find(table.split(".")[1])
        assert node is not None, table
        for key in sorted(COLLECTION_KEYS):
            element = node.find(key)
            assert element is not None, (table, key)
            assert element.get("from_env"), (table, key)
            assert not (element.text or "").strip()


def test_users_have_passwords_from_the_environment_and_metabase_only_reads() -> None:
    users = ET.parse(USERS_FILE).getroot().find("users")
    assert users is not None
    for name in ("ingest", "metabase"):
        user = users.find(name)
        assert user is not None
        password = user.find("password")
        assert password is not None
        assert password.get("from_env")
        assert not (password.text or "").strip()
    grants = [q.text or "" for q in users.findall("metabase/grants/query")]
    assert grants == ["GRANT SELECT, SHOW ON crypto.*"]


def test_no_credentials_or_hosts_in_sql() -> None:
    for path in SQL_FILES:
        text = path.read_text().lower()
        for forbidden in ("password", *COLLECTION_KEYS, "sasl", ":9092"):
            assert forbidden not in text, (path.name, forbidden)


def test_epoch_milliseconds_are_converted_explicitly_into_storage() -> None:
    # an integer inserted into DateTime64(3) is read as seconds: every stored time is converted
    storing = [p for p in SQL_FILES if "_mv_" in p.name and "_mv_errors_" not in p.name]
    checked = 0
    for path in storing:
        text = path.read_text()
        fields = r"\b(m\.)?(timestamp_ms|window_start_ms|window_end_ms)\b"
        for prefix, column in set(re.findall(fields, text)):
            converted = f"fromUnixTimestamp64Milli({prefix}{column}, 'UTC')"
            assert converted in text, (path.name, column)
            checked += 1
    assert checked == 7


def test_every_view_of_a_kafka_table_reads_the_message_with_its_parse_function() -> None:
    """``crypto.kafka_<name>`` holds only the message's text: each view reading it takes the
    columns from ``crypto_parse_<name>`` (the topic's one column list) and nothing else."""
    views = 0
    for path in SQL_FILES:
        text = strip_comments(path.read_text())
        source = re.search(r"\bFROM\s+crypto\.kafka_(?P<name>\w+)", text)
        if source is None:
            continue
        views += 1
        name = source.group("name")
        assert f"crypto_parse_{name}(message) AS m" in text, path.name
        assert (INIT_DIR / path.name).exists()
        assert len(list(INIT_DIR.glob(f"*_function_crypto_parse_{name}.sql"))) == 1, name
    assert views == 2 * len(TOPIC_TABLES)  # one view into storage, one into ingest_errors
