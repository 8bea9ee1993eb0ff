"""Topic names: one setting each, and every side of the stack reads that setting.

The settings models (``producers/settings.py``, ``alerts/settings.py``) are the one place a
default topic name is written. ClickHouse reads the same variables through its named
collections, the ksqlDB statements through session variables, compose passes them to every
service, ``.env.example`` lists them. These tests rename every topic and follow each side, and
hold every other file to naming no topic literally. The real broker and ClickHouse Kafka engine
side is ``tests/integration/test_topic_names.py``.
"""

from __future__ import annotations

import ast
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from alerts.settings import AlertSettings
from embedded.clickhouse import (
    CONFIG_DIR,
    collection_environment,
    declared_kafka_tables,
    named_collections,
)
from embedded.clickhouse import strip_comments as strip_sql_comments
from producers.kafka.topics import topic_defaults, topic_setting_names, topic_variables
from producers.retry import Deadline
from producers.settings import Settings
from provisioning import ksqldb
from provisioning.ksqldb_client import KsqlClient
from provisioning.ksqldb_statements import (
    load_statements,
    strip_comments,
    substitute,
    with_property,
)
from provisioning.topics import all_topics
from tests.support.compose_env import REPO_ROOT, env_example, load_compose, raw_compose
from tests.support.fake_ksqldb import FakeClock, FakeKsqlServer
from tests.support.kafka_tables import KAFKA_TABLE_TOPICS
from tests.support.ksqldb_schema import KSQLDB_DIR

DEFAULTS = topic_defaults(Settings, AlertSettings)
# Every topic renamed to something no default could produce.
RENAMED = {variable: f"renamed.{variable.lower()}" for variable in DEFAULTS}
# The services that use topics, and which names each must get.
PRODUCER_SERVICES = ("topics", "producer", "portfolio", "backfill", "alerts")


def renamed_settings() -> tuple[Settings, AlertSettings]:
    def fields(model: Any) -> dict[str, str]:
        return {name: RENAMED[variable] for variable, name in topic_setting_names(model).items()}

    settings = Settings().model_copy(update=fields(Settings))
    return settings, AlertSettings().model_copy(update=fields(AlertSettings))


# ---- the one place ---------------------------------------------------------------------------
def test_every_topic_setting_is_named_by_its_variable() -> None:
    assert set(DEFAULTS) == {
        "COINS_TOPIC_CURRENT",
        "COINS_TOPIC_HISTORICAL",
        "COINS_TOPIC_DEAD_LETTER",
        "COINS_TOPIC_BACKFILL_PROGRESS",
        "COINS_TOPIC_PORTFOLIO",
        "COINS_TOPIC_OHLC_MINUTE",
        "COINS_TOPIC_MOVING_AVERAGE_60S",
        "COINS_TOPIC_KSQLDB_APPLIED",
        "COINS_ALERTS_TOPIC_ALERTS",
        "COINS_ALERTS_TOPIC_STATE",
        "COINS_ALERTS_TOPIC_DELIVERIES",
    }
    assert len(set(DEFAULTS.values())) == len(DEFAULTS)


def test_the_variables_set_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in RENAMED.items():
        monkeypatch.setenv(variable, value)
    assert topic_variables(Settings(), AlertSettings()) == RENAMED


@pytest.mark.parametrize(
    ("model", "variable", "value", "error"),
    [
        (Settings, "COINS_TOPIC_CURRENT", "ticks;DROP", "Kafka topic names"),
        (Settings, "COINS_TOPIC_OHLC_MINUTE", "a'b", "Kafka topic names"),
        (Settings, "COINS_TOPIC_MOVING_AVERAGE_60S", DEFAULTS["COINS_TOPIC_CURRENT"], "differ"),
        (AlertSettings, "COINS_ALERTS_TOPIC_ALERTS", "<x>", "Kafka topic names"),
    ],
)
def test_a_name_that_is_no_kafka_topic_or_a_duplicate_fails_at_start(
    monkeypatch: pytest.MonkeyPatch, model: Any, variable: str, value: str, error: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=error):
        model()


# ---- ClickHouse ------------------------------------------------------------------------------
def test_every_named_collection_reads_its_topic_from_the_setting() -> None:
    root = ET.parse(CONFIG_DIR / "crypto_kafka.xml").getroot()
    read = {
        node.tag: node.find("kafka_topic_list").get("from_env")  # type: ignore[union-attr]
        for node in root.findall("./named_collections/*")
    }
    assert {f"crypto.{name}": variable for name, variable in read.items()} == KAFKA_TABLE_TOPICS
    renamed = named_collections(collection_environment("kafka:9092", topics=RENAMED))
    tables = declared_kafka_tables(renamed)
    assert {name: table.topics for name, table in tables.items()} == {
        name: (RENAMED[variable],) for name, variable in KAFKA_TABLE_TOPICS.items()
    }


def test_an_unset_topic_variable_is_refused_not_read_as_an_empty_topic() -> None:
    # The server would read an empty kafka_topic_list (ConfigProcessor keeps the element as
    # written); the embedded path names the missing variable instead.
    without_current = {k: v for k, v in RENAMED.items() if k != "COINS_TOPIC_CURRENT"}
    with pytest.raises(KeyError, match="COINS_TOPIC_CURRENT"):
        named_collections(collection_environment("kafka:9092", topics=without_current))


# ---- compose and .env.example ------------------------------------------------------------------
def test_compose_passes_every_topic_setting_with_the_models_default() -> None:
    assert raw_compose()["x-topic-environment"] == {
        variable: f"${{{variable}:-{default}}}" for variable, default in DEFAULTS.items()
    }


def test_compose_gives_each_service_the_renamed_topics() -> None:
    services = load_compose(RENAMED)["services"]
    for name in (*PRODUCER_SERVICES, "ksqldb-init", "clickhouse"):
        environment = services[name]["environment"]
        assert {v: environment.get(v) for v in RENAMED} == RENAMED, name
    # and with no variable set, the defaults of the settings models
    defaults = load_compose()["services"]["clickhouse"]["environment"]
    assert {v: defaults[v] for v in DEFAULTS} == DEFAULTS
    # the producer's healthcheck reads the stream's own setting, not a copy of the name
    assert not any(key.endswith("_TOPIC") for key in services["producer"]["environment"])


def test_clickhouse_gets_every_variable_its_named_collections_read() -> None:
    environment = load_compose()["services"]["clickhouse"]["environment"]
    read = {
        node.get("from_env")
        for node in ET.parse(CONFIG_DIR / "crypto_kafka.xml").getroot().iter()
        if node.get("from_env")
    }
    assert read <= set(environment)


def test_env_example_lists_each_topic_setting_once_with_its_default() -> None:
    listed = env_example()
    assert {variable: listed.get(variable) for variable in DEFAULTS} == DEFAULTS
    lines = (REPO_ROOT / ".env.example").read_text().splitlines()
    for variable in DEFAULTS:
        assert sum(line.startswith(f"{variable}=") for line in lines) == 1, variable


# ---- ksqlDB ----------------------------------------------------------------------------------
def test_the_ksqldb_statements_name_their_topics_by_variable() -> None:
    texts = [statement.text for statement in load_statements(KSQLDB_DIR, DEFAULTS)]
    texts.append(ksqldb.LEDGER_STATEMENT)
    for text in texts:
        topic = with_property(strip_comments(text), "KAFKA_TOPIC")
        assert topic is not None, text
        variable = re.fullmatch(r"\$\{(?P<name>\w+)\}", topic)
        assert variable is not None, topic
        assert variable.group("name") in DEFAULTS, topic


def test_a_statement_naming_no_setting_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    (tmp_path / "010_typo.sql").write_text(
        "CREATE STREAM IF NOT EXISTS s (a INT) WITH (KAFKA_TOPIC='${COINS_TOPIC_CURENT}', "
        "VALUE_FORMAT='JSON');\n"
    )
    with pytest.raises(ValueError, match=r"010_typo.sql statement 1: \$\{COINS_TOPIC_CURENT\}"):
        load_statements(tmp_path, DEFAULTS)


def test_substitution_follows_ksqldb() -> None:
    # names are case-insensitive (SessionProperties), $${ is a literal ${ (StringSubstitutor)
    assert substitute("'${coins_topic_current}'", DEFAULTS) == "'coins_current_full'"
    assert substitute("'$${COINS_TOPIC_CURRENT}'", DEFAULTS) == "'${COINS_TOPIC_CURRENT}'"


def _apply(server: FakeKsqlServer, topics: dict[str, str]) -> None:
    clock = FakeClock()
    client = KsqlClient(server.client(), poll_interval_s=1.0, sleep=clock.sleep)
    statements = load_statements(KSQLDB_DIR, topics)
    ksqldb.apply_statements(client, statements, Deadline.after(60.0, clock))


def test_the_applier_sends_variables_and_ksqldb_runs_on_the_renamed_topics() -> None:
    server = FakeKsqlServer()
    server.add_topic(RENAMED["COINS_TOPIC_CURRENT"], partitions=3)

    _apply(server, RENAMED)

    sent = [p for p in server.ksql_payloads if p["ksql"].lstrip().upper().startswith("CREATE")]
    assert sent, "nothing was sent"
    for payload in sent:
        # the statement as written; the names travel as session variables
        assert not set(RENAMED.values()) & set(re.findall(r"[\w.]+", payload["ksql"]))
        assert payload["sessionVariables"] == RENAMED
    topics = {name: source.topic for name, source in server.sources.items()}
    assert topics == {
        "COINS_KSQLDB_APPLIED": RENAMED["COINS_TOPIC_KSQLDB_APPLIED"],
        "COINS_CURRENT_FULL_STREAM": RENAMED["COINS_TOPIC_CURRENT"],
        "OHLC_BY_MINUTE": RENAMED["COINS_TOPIC_OHLC_MINUTE"],
        "MOVING_AVERAGE_60S": RENAMED["COINS_TOPIC_MOVING_AVERAGE_60S"],
    }
    assert sorted(q.sink_topic for q in server.queries.values()) == sorted(
        [RENAMED["COINS_TOPIC_OHLC_MINUTE"], RENAMED["COINS_TOPIC_MOVING_AVERAGE_60S"]]
    )


def test_renaming_a_topic_on_a_running_ksqldb_is_an_edit_to_replace() -> None:
    server = FakeKsqlServer()
    server.add_topic(DEFAULTS["COINS_TOPIC_CURRENT"], partitions=3)
    server.add_topic(RENAMED["COINS_TOPIC_CURRENT"], partitions=3)
    _apply(server, DEFAULTS)
    with pytest.raises(ksqldb.KsqlEditedStatementError, match="COINS_CURRENT_FULL_STREAM"):
        _apply(server, {**DEFAULTS, "COINS_TOPIC_CURRENT": RENAMED["COINS_TOPIC_CURRENT"]})


def test_the_fake_leaves_an_unsent_variable_as_ksqldb_does() -> None:
    # VariableSubstitutor substitutes known names only: without session variables the topic
    # is literally "${COINS_TOPIC_CURRENT}", which does not exist.
    server = FakeKsqlServer()
    statement = load_statements(KSQLDB_DIR, DEFAULTS)[0].text
    response = server.client().post("/ksql", json={"ksql": statement, "streamsProperties": {}})
    assert response.status_code == 400
    assert response.json()["message"] == "Kafka topic does not exist: ${COINS_TOPIC_CURRENT}"


def test_a_topic_variable_the_applier_did_not_send_fails_as_on_ksqldb() -> None:
    # without session variables the ledger's topic would be literally "${...}": Kafka refuses
    server = FakeKsqlServer()
    response = server.client().post(
        "/ksql", json={"ksql": ksqldb.LEDGER_STATEMENT, "streamsProperties": {}}
    )
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Failed to guarantee existence of topic ${COINS_TOPIC_KSQLDB_APPLIED}"
    )


def test_coins_topics_creates_the_renamed_topics_ksqldb_sinks_included() -> None:
    settings, alert_settings = renamed_settings()
    names = {spec.name for spec in all_topics(KSQLDB_DIR, settings, alert_settings)}
    # every topic but the ledger (ksqlDB creates it itself: PARTITIONS=1 in its statement)
    assert names == set(RENAMED.values()) - {RENAMED["COINS_TOPIC_KSQLDB_APPLIED"]}
    assert names.isdisjoint(DEFAULTS.values())


def test_the_applier_reads_the_topic_settings_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for variable, value in RENAMED.items():
        monkeypatch.setenv(variable, value)
    server = FakeKsqlServer()
    server.add_topic(RENAMED["COINS_TOPIC_CURRENT"], partitions=3)
    settings = ksqldb.KsqlApplierSettings(statements_dir=KSQLDB_DIR, timeout_seconds=10.0)

    def http(_: ksqldb.KsqlApplierSettings) -> httpx.Client:
        return server.client()

    ksqldb.run(settings, http_factory=http)
    assert server.sources["OHLC_BY_MINUTE"].topic == RENAMED["COINS_TOPIC_OHLC_MINUTE"]


# ---- no second list of names -------------------------------------------------------------------
DEFINING = {"producers/settings.py", "alerts/settings.py"}
LITERAL = re.compile(
    r"(?<![\w./-])(?P<name>"
    + "|".join(re.escape(n) for n in sorted(DEFAULTS.values(), key=len, reverse=True))
    + r")(?![\w-])(?!(?:\.schema|\.example)?\.json)"
)
# A ClickHouse table or a contract file named like the topic it holds is no topic name.
NOT_A_TOPIC = re.compile(r"\bcrypto\.\w+|\bcontracts/[\w.]+\.json")
COMPOSE_DEFAULT = re.compile(r"\$\{(?P<variable>\w+):-(?P<default>[^}]*)\}")


def _tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        name
        for name in listed
        if not name.startswith(("tests/", "docs/", "contracts/"))
        and not name.endswith(".md")
        and name not in DEFINING
        and (REPO_ROOT / name).is_file()
    ]


def _python_strings(text: str) -> Iterator[tuple[int, str]]:
    """String constants of a module (f-string parts included), docstrings left out."""
    tree = ast.parse(text)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield node.lineno, node.value


def _code_lines(name: str, text: str) -> Iterator[tuple[int, str]]:
    """The code of a file line by line, comments left out (prose may name a default)."""
    if name.endswith(".py"):
        yield from _python_strings(text)
        return
    if name.endswith(".sql"):
        text = strip_sql_comments(text)
    if name.endswith(".xml"):
        text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    for number, line in enumerate(text.splitlines(), start=1):
        if name.endswith((".yaml", ".yml", ".env.example", "Makefile", ".sh", "Dockerfile", "run")):
            line = re.sub(r"(^|\s)#.*$", "", line)
        if name == "compose.yaml":
            line = COMPOSE_DEFAULT.sub(
                lambda m: "" if DEFAULTS.get(m.group("variable")) == m.group("default") else m[0],
                line,
            )
        if name == ".env.example" and line.partition("=")[0] in DEFAULTS:
            continue
        yield number, line


def test_no_file_names_a_topic_but_the_settings_models() -> None:
    found = []
    for name in _tracked_files():
        try:
            text = (REPO_ROOT / name).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, code in _code_lines(name, text):
            for match in LITERAL.finditer(NOT_A_TOPIC.sub("", code)):
                found.append(f"{name}:{number}: {match.group('name')}")
    assert found == [], "name the setting (producers/settings.py) instead:\n" + "\n".join(found)


def test_the_literal_check_finds_a_hard_coded_topic() -> None:
    code = "KAFKA_TOPIC = 'coins_ohlc_minute'"
    assert [m.group("name") for m in LITERAL.finditer(code)] == ["coins_ohlc_minute"]
    for other in ("crypto.kafka_coins_ohlc_minute", "contracts/coins_ohlc_minute.schema.json"):
        assert not list(LITERAL.finditer(NOT_A_TOPIC.sub("", other)))
    assert list(_python_strings('"""coins_alerts"""\nX = "coins_alerts"\n')) == [
        (2, "coins_alerts")
    ]
