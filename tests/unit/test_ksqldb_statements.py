"""The ksqlDB files: ordered statements, one object per file, the rules every window follows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from producers.kafka.topics import topic_defaults
from producers.settings import Settings
from provisioning.ksqldb_statements import (
    load_statements,
    split_statements,
    strip_comments,
    with_property,
)
from tests.support.ksqldb_schema import KSQLDB_DIR

TOPICS = topic_defaults(Settings)


def test_split_ignores_semicolons_in_strings_identifiers_and_comments() -> None:
    sql = """
    -- a comment; with a semicolon
    CREATE STREAM s (`odd;name` VARCHAR) WITH (KAFKA_TOPIC='t;x', VALUE_FORMAT='JSON');
    /* block; comment */ CREATE TABLE t AS SELECT 'it''s;' AS q FROM s EMIT CHANGES;
    CREATE STREAM "odd;stream" (a INT) WITH (KAFKA_TOPIC='u');
    """
    statements = split_statements(sql)
    assert statements == [
        "CREATE STREAM s (`odd;name` VARCHAR) WITH (KAFKA_TOPIC='t;x', VALUE_FORMAT='JSON');",
        "CREATE TABLE t AS SELECT 'it''s;' AS q FROM s EMIT CHANGES;",
        "CREATE STREAM \"odd;stream\" (a INT) WITH (KAFKA_TOPIC='u');",
    ]


def test_unterminated_statement_is_an_error() -> None:
    with pytest.raises(ValueError, match="not terminated"):
        split_statements("CREATE STREAM s (a INT) WITH (KAFKA_TOPIC='t')")


def test_unterminated_quote_is_an_error() -> None:
    with pytest.raises(ValueError, match="unterminated ' quote"):
        split_statements("CREATE STREAM s WITH (KAFKA_TOPIC='t);")


def test_files_load_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "020_second.sql").write_text("CREATE TABLE b AS SELECT 1 FROM a;")
    (tmp_path / "010_first.sql").write_text("CREATE STREAM a (x INT) WITH (KAFKA_TOPIC='a');")
    (tmp_path / "README.md").write_text("not SQL; ignored")
    statements = load_statements(tmp_path, TOPICS)
    assert [(s.source.name, s.index) for s in statements] == [
        ("010_first.sql", 1),
        ("020_second.sql", 1),
    ]
    assert statements[0].source_topic == "a"
    assert statements[1].source_topic is None


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_statements(tmp_path, TOPICS)


def test_with_property_reads_quoted_and_bare_values() -> None:
    text = "CREATE STREAM s (a INT) WITH (kafka_topic = 'it''s', PARTITIONS=3);"
    assert with_property(text, "KAFKA_TOPIC") == "it's"
    assert with_property(text, "PARTITIONS") == "3"
    assert with_property(text, "REPLICAS") is None


# ---- the repository's files -------------------------------------------------------------
REPO_STATEMENTS = load_statements(KSQLDB_DIR, TOPICS)


def test_repository_files_are_ordered_with_one_statement_each() -> None:
    files = sorted(p.name for p in KSQLDB_DIR.glob("*.sql"))
    assert [s.source.name for s in REPO_STATEMENTS] == files
    assert all(re.match(r"^\d{3}_[a-z0-9_]+\.sql$", name) for name in files)
    assert len(REPO_STATEMENTS) == 3


def test_every_statement_is_idempotent() -> None:
    for statement in REPO_STATEMENTS:
        assert re.match(
            r"^CREATE\s+(STREAM|TABLE)\s+IF\s+NOT\s+EXISTS\b", statement.text, re.IGNORECASE
        ), statement.location


def test_every_file_says_what_it_is_for() -> None:
    for path in KSQLDB_DIR.glob("*.sql"):
        assert path.read_text().startswith("-- "), path.name


def test_source_stream_uses_the_tick_timestamp_as_event_time() -> None:
    stream = REPO_STATEMENTS[0].resolved
    assert with_property(stream, "KAFKA_TOPIC") == "coins_current_full"
    assert with_property(stream, "TIMESTAMP") == "timestamp_ms"
    assert with_property(stream, "VALUE_FORMAT") == "JSON"
    assert REPO_STATEMENTS[0].source_topic == "coins_current_full"


@pytest.mark.parametrize(
    ("index", "topic", "window"),
    [
        (1, "coins_ohlc_minute", r"TUMBLING\s*\(\s*SIZE 1 MINUTE,"),
        (
            2,
            "coins_moving_average_60s",
            r"HOPPING\s*\(\s*SIZE 60 SECONDS,\s*ADVANCE BY 30 SECONDS,",
        ),
    ],
)
def test_windows_are_explicit(index: int, topic: str, window: str) -> None:
    text = strip_comments(REPO_STATEMENTS[index].resolved)
    assert with_property(text, "KAFKA_TOPIC") == topic
    assert with_property(text, "VALUE_FORMAT") == "JSON"
    assert re.search(rf"WINDOW\s+{window}", text), text
    # ksqlDB's default grace is 24 h: every window states its own grace and retention
    assert re.search(r"GRACE PERIOD \d+ (SECONDS?|MINUTES?)\)", text)
    assert re.search(r"RETENTION \d+ (HOURS?|DAYS?)", text)
    assert "EMIT CHANGES" in text


@pytest.mark.parametrize("index", [1, 2])
def test_value_names_are_quoted_lower_case(index: int) -> None:
    text = strip_comments(REPO_STATEMENTS[index].resolved)
    aliases = re.findall(r"\bAS\s+(`?)(\w+)`?", text.split("FROM")[0])
    value_aliases = [(quote, name) for quote, name in aliases if name.upper() != "SELECT"]
    assert value_aliases
    for quote, name in value_aliases:
        assert quote == "`", name
        assert name == name.lower(), name
    assert re.search(r"AS_VALUE\(code\) AS `code`", text)
    assert re.search(r"WINDOWSTART AS `window_start_ms`", text)
    assert re.search(r"WINDOWEND AS `window_end_ms`", text)
