"""The ksqlDB applier against a fake ksqlDB REST server: order, idempotence, waits, errors."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from provisioning import ksqldb
from provisioning.ksqldb import KsqlApplierSettings, Outcome, apply_statements, run
from provisioning.ksqldb_client import (
    Deadline,
    KsqlClient,
    KsqlStatementError,
    KsqlTimeoutError,
)
from provisioning.ksqldb_statements import KsqlStatement, load_statements
from tests.support.fake_ksqldb import FakeClock, FakeKsqlServer

REPO_STATEMENTS = Path(__file__).resolve().parents[2] / "ksqldb"


def _statements(*texts: str) -> list[KsqlStatement]:
    return [
        KsqlStatement(source=Path(f"{number:03d}.sql"), index=1, text=text)
        for number, text in enumerate(texts, start=1)
    ]


def _apply(
    server: FakeKsqlServer, statements: list[KsqlStatement], seconds: float = 60.0
) -> tuple[list[ksqldb.Applied], FakeClock]:
    clock = FakeClock()
    client = KsqlClient(server.client(), poll_interval_s=1.0, sleep=clock.sleep)
    return apply_statements(client, statements, Deadline.after(seconds, clock)), clock


def test_applies_the_repository_files_in_order_reading_from_earliest() -> None:
    server = FakeKsqlServer(topics={"coins_current_full"})
    applied, _ = _apply(server, load_statements(REPO_STATEMENTS))

    names = [item.statement.source.name for item in applied]
    assert names == sorted(names)
    assert [item.outcome for item in applied] == [Outcome.CREATED] * len(applied)
    assert server.executed_statements() == [item.statement.text for item in applied]
    assert set(server.objects) == {
        "COINS_CURRENT_FULL_STREAM",
        "OHLC_BY_MINUTE",
        "MOVING_AVERAGE_60S",
    }
    creates = [p for p in server.ksql_payloads if not p["ksql"].startswith("SHOW TOPICS")]
    for payload in creates:
        assert payload["streamsProperties"] == {"ksql.streams.auto.offset.reset": "earliest"}
    # each statement waits for the previous command: the server keeps the files' order
    assert [p.get("commandSequenceNumber") for p in creates] == [None, 1, 2]


def test_second_run_is_idempotent() -> None:
    server = FakeKsqlServer(topics={"coins_current_full"})
    statements = load_statements(REPO_STATEMENTS)
    _apply(server, statements)
    objects_after_first_run = dict(server.objects)

    applied, _ = _apply(server, statements)

    assert [item.outcome for item in applied] == [Outcome.ALREADY_EXISTED] * len(statements)
    assert server.objects == objects_after_first_run
    assert all("already exists" in item.message for item in applied)


def test_already_exists_error_without_if_not_exists_counts_as_applied() -> None:
    server = FakeKsqlServer(objects={"PRICES": "CREATE STREAM prices ..."})
    applied, _ = _apply(
        server,
        _statements(
            "CREATE STREAM prices (code VARCHAR KEY) WITH (KAFKA_TOPIC='p', PARTITIONS=1, "
            "VALUE_FORMAT='JSON');",
            "CREATE TABLE totals AS SELECT code, COUNT(*) AS n FROM prices GROUP BY code;",
        ),
    )
    assert [item.outcome for item in applied] == [Outcome.ALREADY_EXISTED, Outcome.CREATED]
    assert "A stream with the same name already exists" in applied[0].message


def test_refused_statement_stops_the_run_with_the_server_text_and_file() -> None:
    server_message = (
        "Line: 12, Col: 5: Invalid Predicate: Function 'EARLIEST_BY_OFFSET' does not accept "
        "parameters (STRING)"
    )
    server = FakeKsqlServer(
        topics={"coins_current_full"}, reject={"ohlc_by_minute": (400, server_message)}
    )

    with pytest.raises(KsqlStatementError) as caught:
        _apply(server, load_statements(REPO_STATEMENTS))

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
    server = FakeKsqlServer(
        healthcheck_errors=2, unhealthy_answers=3, topics={"coins_current_full"}
    )
    applied, clock = _apply(server, load_statements(REPO_STATEMENTS))

    assert len(applied) == 3
    assert len(clock.sleeps) == 5
    first_ksql = next(i for i, r in enumerate(server.requests) if r.url.path == "/ksql")
    assert all(r.url.path == "/healthcheck" for r in server.requests[:first_ksql])
    assert first_ksql == 6


def test_healthcheck_deadline_raises_with_the_last_problem() -> None:
    server = FakeKsqlServer(unhealthy_answers=10_000)

    with pytest.raises(KsqlTimeoutError, match="not healthy before the deadline") as caught:
        _apply(server, load_statements(REPO_STATEMENTS), seconds=30.0)

    assert "HTTP 503" in str(caught.value)
    assert not server.ksql_payloads


def test_waits_for_the_source_topic_created_by_the_producer() -> None:
    server = FakeKsqlServer(topic_appears_after_polls={"coins_current_full": 4})
    applied, clock = _apply(server, load_statements(REPO_STATEMENTS))

    assert len(applied) == 3
    topic_polls = [p for p in server.ksql_payloads if p["ksql"].startswith("SHOW TOPICS")]
    assert len(topic_polls) == 5
    assert len(clock.sleeps) == 4


def test_missing_source_topic_times_out_naming_the_topic() -> None:
    server = FakeKsqlServer()

    with pytest.raises(KsqlTimeoutError, match="'coins_current_full' does not exist"):
        _apply(server, load_statements(REPO_STATEMENTS), seconds=10.0)
    assert not server.objects


def test_polls_command_status_until_it_finishes() -> None:
    server = FakeKsqlServer(topics={"coins_current_full"}, pending_status_polls=2)
    applied, _ = _apply(server, load_statements(REPO_STATEMENTS))

    assert [item.outcome for item in applied] == [Outcome.CREATED] * 3
    status_paths = [r.url.path for r in server.requests if r.url.path.startswith("/status/")]
    assert len(status_paths) == 9
    assert status_paths[0] == "/status/stream/`COINS_CURRENT_FULL_STREAM`/create"


def test_command_ending_in_error_raises() -> None:
    server = FakeKsqlServer(topics={"coins_current_full"}, final_command_state="ERROR")

    with pytest.raises(KsqlStatementError, match="command ended in ERROR"):
        _apply(server, load_statements(REPO_STATEMENTS))


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

    def http_factory(config: KsqlApplierSettings) -> httpx.Client:
        client = ksqldb.build_http_client(config)
        client._transport = server.transport
        return client

    applied = run(settings, http_factory=http_factory)

    assert [item.outcome for item in applied] == [Outcome.CREATED]
    assert all(r.headers["Authorization"].startswith("Basic ") for r in server.requests)


def test_main_exits_non_zero_and_logs_the_server_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "010_bad.sql").write_text("CREATE TABLE broken AS SELECT nonsense;\n")
    server = FakeKsqlServer(reject={"broken": (400, "line 1:30: no viable alternative")})
    monkeypatch.setattr(
        ksqldb,
        "build_http_client",
        lambda settings: httpx.Client(base_url=settings.url, transport=server.transport),
    )

    with caplog.at_level(logging.ERROR, logger="coins.ksqldb"):
        status = ksqldb.main(["--url", "http://ksqldb:8088", "--dir", str(tmp_path)])

    assert status == 1
    assert "line 1:30: no viable alternative" in caplog.text
    assert "010_bad.sql statement 1" in caplog.text


def test_main_succeeds_on_the_repository_files(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeKsqlServer(topics={"coins_current_full"})
    monkeypatch.setattr(
        ksqldb,
        "build_http_client",
        lambda settings: httpx.Client(base_url=settings.url, transport=server.transport),
    )
    monkeypatch.setenv("KSQLDB_STATEMENTS_DIR", str(REPO_STATEMENTS))

    assert ksqldb.main([]) == 0
    assert len(server.objects) == 3


def test_main_reports_a_missing_statements_folder(tmp_path: Path) -> None:
    assert ksqldb.main(["--dir", str(tmp_path / "absent")]) == 1
