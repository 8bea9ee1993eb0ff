"""What the real ClickHouse server and images need that chDB cannot show: the grant on the
named collections, the creation order that keeps the first backlog in the rollups, and
healthchecks that do not depend on one HTTP tool."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import yaml

from embedded.clickhouse import CONFIG_DIR as SERVER_CONFIG_DIR
from embedded.clickhouse import INIT_DIR, REPO_ROOT, split_statements

COMPOSE = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())
USERS_FILE = REPO_ROOT / "clickhouse" / "users.d" / "crypto_users.xml"
KAFKA_ENGINE = re.compile(r"\bENGINE\s*=\s*Kafka\s*\(\s*(?P<collection>\w+)", re.IGNORECASE)
CREATE_TABLE = re.compile(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>[\w.]+)", re.I)
MATERIALIZED_VIEW = re.compile(
    r"CREATE\s+MATERIALIZED\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>[\w.]+)"
    r"(?P<refresh>\s+REFRESH\b)?.*?\bTO\s+(?P<target>[\w.]+).*?\bFROM\s+(?P<source>[\w.]+)",
    re.IGNORECASE | re.DOTALL,
)


def _statements() -> list[tuple[str, str]]:
    return [
        (path.name, re.sub(r"--[^\n]*", "", statement))
        for path in sorted(INIT_DIR.glob("*.sql"))
        for statement in split_statements(path.read_text())
    ]


def test_the_init_user_may_use_every_named_collection_of_the_kafka_tables() -> None:
    # A users.xml user has no NAMED COLLECTION grant unless named_collection_control is set,
    # and the image's entrypoint never sets it for CLICKHOUSE_USER.
    init_user = COMPOSE["services"]["clickhouse"]["environment"]["CLICKHOUSE_USER"]
    assert "$" not in str(init_user), "users.d must name the init user: no variable"
    users = ET.parse(USERS_FILE).getroot().find("users")
    assert users is not None
    user = users.find(str(init_user))
    assert user is not None, f"crypto_users.xml does not configure {init_user!r}"
    assert (user.findtext("named_collection_control") or "").strip() == "1"
    assert user.find("grants") is None, "grants exclude named_collection_control"

    collections = (
        ET.parse(SERVER_CONFIG_DIR / "crypto_kafka.xml").getroot().find("named_collections")
    )
    assert collections is not None
    used = {
        match.group("collection")
        for _, statement in _statements()
        if (match := KAFKA_ENGINE.search(statement))
    }
    assert used, "no Kafka table found"
    assert used <= {child.tag for child in collections}


def test_views_cascading_from_kafka_fed_tables_exist_before_consumption_starts() -> None:
    statements = _statements()
    kafka_tables = {
        match.group("name")
        for _, statement in statements
        if KAFKA_ENGINE.search(statement) and (match := CREATE_TABLE.search(statement))
    }
    views = [
        (index, match)
        for index, (_, statement) in enumerate(statements)
        if (match := MATERIALIZED_VIEW.search(statement)) and not match.group("refresh")
    ]
    consumers = [(index, match) for index, match in views if match.group("source") in kafka_tables]
    assert consumers, "no materialized view reads a Kafka table"
    first_consumer = min(index for index, _ in consumers)
    fed_by_kafka = {match.group("target") for _, match in consumers}
    cascades = [(index, match) for index, match in views if match.group("source") in fed_by_kafka]
    assert cascades, "no view cascades from a Kafka-fed table"
    late = [match.group("name") for index, match in cascades if index > first_consumer]
    assert not late, f"created after the Kafka tables started consuming: {late}"


def test_ksqldb_healthcheck_works_with_curl_or_wget() -> None:
    # cp-ksqldb-server 8.x builds on cp-base-java (ubi9-minimal: curl, no wget); 7.x had wget.
    test = COMPOSE["services"]["ksqldb-server"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    command = test[1]
    curl, _, wget = command.partition("||")
    assert "curl " in curl
    assert "wget " in wget
    assert "/healthcheck" in command
