"""The ksqlDB applier against a fake ksqlDB REST server: order, idempotence, waits, errors."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from producers.kafka.topics import topic_defaults
from producers.retry import Deadline
from producers.settings import Settings
from provisioning import ksqldb
from provisioning.ksqldb import (
    KsqlApplierSettings,
    KsqlEditedStatementError,
    KsqlQueryNotRunningError,
    Outcome,
    apply_statements,
    check_queries_running,
    run,
)
from provisioning.ksqldb_client import (
    KsqlClient,
    KsqlError,
    KsqlStatementError,
    KsqlTimeoutError,
)
from provisioning.ksqldb_statements import KsqlStatement, load_statements
from provisioning.topics import all_topics
from tests.support.fake_ksqldb import FakeClock, FakeKsqlServer, FakeSource, FakeTopic
from tests.support.ksqldb_schema import KSQLDB_DIR

TOPICS = topic_defaults(Settings)


def _statements(*texts: str) -> list[KsqlStatement]:
    return [
        KsqlStatement(source=Path(f"{number:03d}.sql"), index=1, text=text, variables=TOPICS)
        for number, text in enumerate(texts, start=1)
    ]


def _server(**kwargs: Any) -> FakeKsqlServer:
    """A fake server where the producers created coins_current_full (3 partitions)."""
    return FakeKsqlServer(topics={"coins_current_full": FakeTopic(partitions=3)}, **kwargs)


def _apply(
    server: FakeKsqlServer,
    statements: list[KsqlStatement],
    seconds: float = 60.0,
    replace: tuple[str, ...] = (),
) -> tuple[list[ksqldb.Applied], FakeClock]:
    clock = FakeClock()
    client = KsqlClient(server.client(), poll_interval_s=1.0, sleep=clock.sleep)
    applied = apply_statements(client, statements, Deadline.after(seconds, clock), replace=replace)
    return applied, clock


def _check_queries(server: FakeKsqlServer, seconds: float = 10.0) -> None:
    clock = FakeClock()
    client = KsqlClient(server.client(), poll_interval_s=1.0, sleep=clock.sleep)
    check_queries_running(
        client, load_statements(KSQLDB_DIR, TOPICS), Deadline.after(seconds, clock)
    )


def test_applies_the_repository_files_in_order_reading_from_earliest() -> None:
    server = _server()
    applied, _ = _apply(server, load_statements(KSQLDB_DIR, TOPICS))

    names = [item.statement.source.name for item in applied]
    assert names == sorted(names)
    assert [item.outcome for item in applied] == [Outcome.CREATED] * len(applied)
    assert server.executed_statements() == [item.statement.resolved for item in applied]
    assert set(server.objects) == {
        "COINS_KSQLDB_APPLIED",
        "COINS_CURRENT_FULL_STREAM",
        "OHLC_BY_MINUTE",
        "MOVING_AVERAGE_60S",
    }
    sent = [item.statement.text for item in applied]
    creates = [p for p in server.ksql_payloads if p["ksql"] in sent]
    for payload in creates:
        assert payload["streamsProperties"] == {"ksql.streams.auto.offset.reset": "earliest"}
        assert payload["sessionVariables"] == TOPICS  # the topic names: ksqlDB substitutes
    # each statement waits for the previous command (the ledger's is 1): the files' order
    assert [p.get("commandSequenceNumber") for p in creates] == [1, 2, 3]
    # every object's checksum is recorded in ksqlDB
    assert [row["OBJECT_NAME"] for row in server.sources["COINS_KSQLDB_APPLIED"].rows] == [
        "COINS_CURRENT_FULL_STREAM",
        "OHLC_BY_MINUTE",
        "MOVING_AVERAGE_60S",
    ]


def test_second_run_is_idempotent() -> None:
    server = _server()
    statements = load_statements(KSQLDB_DIR, TOPICS)
    _apply(server, statements)
    objects_after_first_run = dict(server.objects)

    applied, _ = _apply(server, statements)

    assert [item.outcome for item in applied] == [Outcome.ALREADY_EXISTED] * len(statements)
    assert server.objects == objects_after_first_run
    assert [item.message for item in applied] == [
        "Cannot add stream COINS_CURRENT_FULL_STREAM: A stream with the same name already exists.",
        "Cannot add table OHLC_BY_MINUTE: A table with the same name already exists.",
        "Cannot add table MOVING_AVERAGE_60S: A table with the same name already exists.",
    ]


def test_already_exists_error_without_if_not_exists_is_a_failure() -> None:
    # Without IF NOT EXISTS ksqlDB answers 400; only the IF NOT EXISTS warning means "exists".
    server = FakeKsqlServer()
    server.add_topic("p", partitions=1)
    server.sources["PRICES"] = FakeSource("STREAM", "CREATE STREAM prices ...", "p")
    with pytest.raises(KsqlStatementError) as caught:
        _apply(
            server,
            _statements(
                "CREATE STREAM prices (code VARCHAR KEY) WITH (KAFKA_TOPIC='p', PARTITIONS=1, "
                "VALUE_FORMAT='JSON');",
            ),
        )
    assert "A stream with the same name already exists" in caught.value.server_message
    assert caught.value.status_code == 400


def test_sink_topic_with_other_partitions_fails_although_the_text_says_already_exists() -> None:
    # TopicValidationUtil: the sink topic must have the source topic's partitions and, for a
    # windowed table, retention.ms = the window RETENTION. A mismatch is a 400 that contains
    # "already exists" and creates nothing.
    server = _server()
    server.add_topic("coins_ohlc_minute", partitions=1, retention_ms=86_400_000)

    with pytest.raises(KsqlStatementError) as caught:
        _apply(server, load_statements(KSQLDB_DIR, TOPICS))

    message = caught.value.server_message
    assert "A Kafka topic with the name 'coins_ohlc_minute' already exists" in message
    assert "KSQL expects 3 partitions (topic has 1)" in message
    assert "020_ohlc_by_minute.sql statement 1" in str(caught.value)
    assert "OHLC_BY_MINUTE" not in server.sources
    assert "MOVING_AVERAGE_60S" not in server.sources


def test_sink_topic_with_other_retention_fails() -> None:
    server = _server()
    server.add_topic("coins_moving_average_60s", partitions=3)  # Kafka's default 7 days

    with pytest.raises(KsqlStatementError, match="and 86400000 retention \\(topic has 604800000"):
        _apply(server, load_statements(KSQLDB_DIR, TOPICS))


def test_the_topics_coins_topics_creates_up_front_pass_ksqldb_validation() -> None:
    # compose creates every topic before ksqlDB starts (coins-topics): the layout must be the
    # one ksqlDB validates, or its CREATE TABLE AS SELECT fails.
    server = FakeKsqlServer()
    for spec in all_topics(KSQLDB_DIR, Settings()):
        retention = spec.config.get("retention.ms")
        server.add_topic(spec.name, spec.partitions, int(retention) if retention else None)

    applied, _ = _apply(server, load_statements(KSQLDB_DIR, TOPICS))

    assert [item.outcome for item in applied] == [Outcome.CREATED] * 3
    _check_queries(server)


def test_query_id_already_exists_is_a_failure() -> None:
    server = _server(query_id_taken={"MOVING_AVERAGE_60S"})

    with pytest.raises(KsqlStatementError, match=r"Query ID 'CTAS_MOVING_AVERAGE_60S_\d+' already"):
        _apply(server, load_statements(KSQLDB_DIR, TOPICS))


def test_every_persistent_query_must_be_running() -> None:
    server = _server(
        failing_queries={"OHLC_BY_MINUTE": "Error serializing message to topic: coins_ohlc_minute"}
    )
    _apply(server, load_statements(KSQLDB_DIR, TOPICS))

    with pytest.raises(KsqlQueryNotRunningError) as caught:
        _check_queries(server)

    text = str(caught.value)
    assert "query CTAS_OHLC_BY_MINUTE_" in text
    assert "is ERROR: Error serializing message to topic: coins_ohlc_minute" in text
    assert "MOVING_AVERAGE_60S" not in text


def test_a_missing_query_is_reported() -> None:
    server = _server()
    _apply(server, load_statements(KSQLDB_DIR, TOPICS))
    server.queries = {
        query_id: query
        for query_id, query in server.queries.items()
        if query.sink != "OHLC_BY_MINUTE"
    }

    with pytest.raises(KsqlQueryNotRunningError, match="no persistent query writes into OHLC_BY"):
        _check_queries(server)


def _edited_copy(tmp_path: Path) -> Path:
    statements_dir = tmp_path / "ksqldb"
    statements_dir.mkdir()
    for path in KSQLDB_DIR.glob("*.sql"):
        (statements_dir / path.name).write_text(path.read_text())
    edited = statements_dir / "030_moving_average_60s.sql"
    edited.write_text(edited.read_text().replace("ADVANCE BY 30 SECONDS", "ADVANCE BY 10 SECONDS"))
    return statements_dir


def test_an_edited_statement_fails_with_the_command_that_replaces_it(tmp_path: Path) -> None:
    server = _server()
    _apply(server, load_statements(KSQLDB_DIR, TOPICS))
    first_query = next(q for q in server.queries.values() if q.sink == "MOVING_AVERAGE_60S")

    with pytest.raises(KsqlEditedStatementError) as caught:
        _apply(server, load_statements(_edited_copy(tmp_path), TOPICS))

    text = str(caught.value)
    assert "030_moving_average_60s.sql statement 1: MOVING_AVERAGE_60S already exists" in text
    assert "coins-ksql-apply --replace MOVING_AVERAGE_60S" in text
    assert first_query.query_id in server.queries  # nothing was touched


def test_replace_drops_and_recreates_only_the_named_object_keeping_its_topic(
    tmp_path: Path,
) -> None:
    server = _server()
    _apply(server, load_statements(KSQLDB_DIR, TOPICS))
    old_ohlc = next(q.query_id for q in server.queries.values() if q.sink == "OHLC_BY_MINUTE")
    old_average = next(
        q.query_id for q in server.queries.values() if q.sink == "MOVING_AVERAGE_60S"
    )
    statements = load_statements(_edited_copy(tmp_path), TOPICS)

    applied, _ = _apply(server, statements, replace=("moving_average_60s",))

    assert [item.outcome for item in applied] == [
        Outcome.ALREADY_EXISTED,
        Outcome.ALREADY_EXISTED,
        Outcome.REPLACED,
    ]
    assert "ADVANCE BY 10 SECONDS" in server.sources["MOVING_AVERAGE_60S"].statement
    assert old_ohlc in server.queries
    assert old_average not in server.queries
    assert "coins_moving_average_60s" in server.topics
    _check_queries(server)
    # and the next plain run accepts the edited file
    again, _ = _apply(server, statements)
    assert [item.outcome for item in again] == [Outcome.ALREADY_EXISTED] * 3


def test_replace_of_an_unknown_name_is_refused() -> None:
    with pytest.raises(KsqlError, match="--replace NOPE: no statement creates it"):
        _apply(_server(), load_statements(KSQLDB_DIR, TOPICS), replace=("nope",))


def test_objects_created_before_the_ledger_are_adopted() -> None:
    server = _server()
    _apply(server, load_statements(KSQLDB_DIR, TOPICS))
    server.sources["COINS_KSQLDB_APPLIED"].rows.clear()

    applied, _ = _apply(server, load_statements(KSQLDB_DIR, TOPICS))

    assert [item.outcome for item in applied] == [Outcome.ALREADY_EXISTED] * 3
    assert {row["OBJECT_NAME"] for row in server.sources["COINS_KSQLDB_APPLIED"].rows} == {
        "COINS_CURRENT_FULL_STREAM",
        "OHLC_BY_MINUTE",
        "MOVING_AVERAGE_60S",
    }


def test_refused_statement_stops_the_run_with_the_server_text_and_file() -> None:
    server_message = (
        "Line: 12, Col: 5: Invalid Predicate: Function 'EARLIEST_BY_OFFSET' does not accept "
        "parameters (STRING)"
    )
    server = _server(reject={"ohlc_by_minute": (400, server_message)})

    with pytest.raises(KsqlStatementError) as caught:
        _apply(server, load_statements(KSQLDB_DIR, TOPICS))

    error = caught.value
    assert error.server_message == server_message
    assert error.status_code == 400
    assert error.error_code == 40001
    assert server_message in str(error)
    assert "020_ohlc_by_minute.sql statement 1" in str(error)
    # the statement after the refused one is never sent
    assert "MOVING_AVERAGE_60S" not in server.objects


def test_server_error_without_json_body_is_surfaced_verbatim() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthcheck":
            return httpx.Response(200, json={"isHealthy": True})
        return httpx.Response(502, text="Bad Gateway from proxy")

    clock = FakeClock()
    client = KsqlClient(
        httpx.Client(base_url="http://k", transport=httpx.MockTransport(handler)),
        sleep=clock.sleep,
    )
    with pytest.raises(KsqlStatementError, match="HTTP 502: Bad Gateway from proxy"):
        apply_statements(
            client,
            _statements("CREATE TABLE t AS SELECT a, COUNT(*) AS n FROM s GROUP BY a;"),
            Deadline.after(10, clock),
        )


def test_waits_for_healthcheck_then_applies() -> None:
    server = _server(healthcheck_errors=2, unhealthy_answers=3, unhealthy_with_200=2)
    applied, clock = _apply(server, load_statements(KSQLDB_DIR, TOPICS))

    assert len(applied) == 3
    # a 200 that says isHealthy: false is not healthy (HealthCheckResource answers 200 then)
    assert len(clock.sleeps) == 7
    first_ksql = next(i for i, r in enumerate(server.requests) if r.url.path == "/ksql")
    assert all(r.url.path == "/healthcheck" for r in server.requests[:first_ksql])
    assert first_ksql == 8


def test_healthcheck_deadline_raises_with_the_last_problem() -> None:
    server = FakeKsqlServer(unhealthy_answers=10_000)

    with pytest.raises(KsqlTimeoutError, match="not healthy before the deadline") as caught:
        _apply(server, load_statements(KSQLDB_DIR, TOPICS), seconds=30.0)

    assert "HTTP 503" in str(caught.value)
    assert not server.ksql_payloads


def test_waits_for_the_source_topic_created_by_the_producer() -> None:
    server = FakeKsqlServer(topic_appears_after_polls={"coins_current_full": 4})
    applied, clock = _apply(server, load_statements(KSQLDB_DIR, TOPICS))

    assert len(applied) == 3
    topic_polls = [p for p in server.ksql_payloads if p["ksql"].startswith("SHOW TOPICS")]
    assert len(topic_polls) == 5
    assert len(clock.sleeps) == 4


def test_missing_source_topic_times_out_naming_the_topic() -> None:
    server = FakeKsqlServer()

    with pytest.raises(KsqlTimeoutError, match="'coins_current_full' does not exist"):
        _apply(server, load_statements(KSQLDB_DIR, TOPICS), seconds=10.0)
    assert set(server.objects) == {"COINS_KSQLDB_APPLIED"}


def test_polls_command_status_until_it_finishes() -> None:
    server = _server(pending_status_polls=2)
    applied, _ = _apply(server, load_statements(KSQLDB_DIR, TOPICS))

    assert [item.outcome for item in applied] == [Outcome.CREATED] * 3
    status_paths = [r.url.path for r in server.requests if r.url.path.startswith("/status/")]
    assert len(status_paths) == 12  # the ledger, then three statements, three polls each
    assert status_paths[3] == "/status/stream/`COINS_CURRENT_FULL_STREAM`/create"


def test_command_ending_in_error_raises() -> None:
    server = _server(final_command_state="ERROR")

    with pytest.raises(KsqlStatementError, match="command ended in ERROR"):
        _apply(server, load_statements(KSQLDB_DIR, TOPICS))


def test_run_uses_settings_and_basic_auth(tmp_path: Path) -> None:
    (tmp_path / "010_a.sql").write_text(
        "CREATE STREAM IF NOT EXISTS a (x INT) WITH (KAFKA_TOPIC='a', PARTITIONS=1, "
        "VALUE_FORMAT='JSON');\n"
    )
    server = FakeKsqlServer()
    settings = KsqlApplierSettings(
        url="http://ksqldb:8088",
        statements_dir=tmp_path,
        username="key",
        password=SecretStr("secret"),
    )

    applied = run(
        settings, http_factory=lambda config: ksqldb.build_http_client(config, server.transport)
    )

    assert [item.outcome for item in applied] == [Outcome.CREATED]
    assert all(r.headers["Authorization"].startswith("Basic ") for r in server.requests)


def test_main_exits_non_zero_and_logs_the_server_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "010_bad.sql").write_text("CREATE TABLE broken AS SELECT nonsense;\n")
    server = FakeKsqlServer(reject={"broken": (400, "line 1:30: no viable alternative")})

    with caplog.at_level(logging.ERROR, logger="provisioning.ksqldb"):
        status = ksqldb.main(
            ["--url", "http://ksqldb:8088", "--dir", str(tmp_path)], transport=server.transport
        )

    assert status == 1
    assert "line 1:30: no viable alternative" in caplog.text
    assert "010_bad.sql statement 1" in caplog.text


def test_main_succeeds_on_the_repository_files(monkeypatch: pytest.MonkeyPatch) -> None:
    server = _server()
    monkeypatch.setenv("KSQLDB_STATEMENTS_DIR", str(KSQLDB_DIR))

    assert ksqldb.main([], transport=server.transport) == 0
    assert set(server.objects) == {
        "COINS_KSQLDB_APPLIED",
        "COINS_CURRENT_FULL_STREAM",
        "OHLC_BY_MINUTE",
        "MOVING_AVERAGE_60S",
    }


def test_main_fails_when_a_query_is_not_running(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = _server(failing_queries={"OHLC_BY_MINUTE": "Could not deserialize value"})
    monkeypatch.setenv("KSQLDB_STATEMENTS_DIR", str(KSQLDB_DIR))
    monkeypatch.setenv("KSQLDB_QUERY_RUNNING_TIMEOUT_SECONDS", "0.001")

    with caplog.at_level(logging.ERROR, logger="provisioning.ksqldb"):
        assert ksqldb.main([], transport=server.transport) == 1
    assert "is ERROR: Could not deserialize value" in caplog.text


def test_main_reports_a_missing_statements_folder(tmp_path: Path) -> None:
    assert ksqldb.main(["--dir", str(tmp_path / "absent")]) == 1


def test_a_server_refusing_the_ledger_pull_query_still_gets_its_statements(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = _server(reject={"SELECT OBJECT_NAME": (400, "Pull queries are disabled.")})

    with caplog.at_level(logging.WARNING, logger="provisioning.ksqldb"):
        applied, _ = _apply(server, load_statements(KSQLDB_DIR, TOPICS))

    assert [item.outcome for item in applied] == [Outcome.CREATED] * 3
    assert "edited statements go undetected" in caplog.text
