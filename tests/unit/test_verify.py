"""``coins-verify``'s ksqlDB and Metabase hops against the fakes that model the real servers.

(The Kafka and ClickHouse hops run for real in tests/integration/test_verify.py.)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from producers.kafka.topics import topic_defaults
from producers.retry import Deadline
from producers.settings import Settings
from provisioning.ksqldb import apply_statements
from provisioning.ksqldb_client import KsqlClient
from provisioning.ksqldb_statements import load_statements
from provisioning.metabase.client import MetabaseClient
from provisioning.metabase.definitions import Definitions
from provisioning.metabase.provisioner import Provisioner
from provisioning.metabase.settings import MetabaseSettings
from provisioning.verify import (
    Check,
    Status,
    VerifySettings,
    failed,
    ksqldb_checks,
    main,
    metabase_checks,
    render,
)
from tests.support.fake_ksqldb import FakeClock, FakeKsqlServer, FakeTopic
from tests.support.fake_metabase import FakeMetabase

REPO_ROOT = Path(__file__).resolve().parents[2]
STATEMENTS = load_statements(REPO_ROOT / "ksqldb", topic_defaults(Settings))
KSQLDB_CARDS = {"Intraday: minute OHLC (ksqlDB)", "Intraday: 60 s moving average (ksqlDB)"}


def _applied_server(**kwargs: Any) -> FakeKsqlServer:
    server = FakeKsqlServer(topics={"coins_current_full": FakeTopic()}, **kwargs)
    clock = FakeClock()
    apply_statements(
        KsqlClient(server.client(), sleep=clock.sleep), STATEMENTS, Deadline.after(60, clock)
    )
    return server


def _statuses(checks: list[Check]) -> dict[str, Status]:
    return {check.name: check.status for check in checks}


def _fresh(_topic: str) -> float:
    return time.time() - 5


def test_a_healthy_ksqldb_with_running_queries_and_advancing_topics_passes() -> None:
    server = _applied_server()

    checks = ksqldb_checks(KsqlClient(server.client()), STATEMENTS, _fresh, VerifySettings())

    assert _statuses(checks) == {
        "server healthy": Status.OK,
        "persistent queries RUNNING": Status.OK,
        "output topic coins_ohlc_minute advancing": Status.OK,
        "output topic coins_moving_average_60s advancing": Status.OK,
    }
    assert "2/2 RUNNING" in render(checks)


def test_a_query_in_error_and_a_silent_topic_fail_with_a_fix() -> None:
    server = _applied_server(failing_queries={"OHLC_BY_MINUTE": "Serialization error"})

    def newest(topic: str) -> float | None:
        return None if topic == "coins_ohlc_minute" else time.time()

    checks = ksqldb_checks(KsqlClient(server.client()), STATEMENTS, newest, VerifySettings())

    statuses = _statuses(checks)
    assert statuses["persistent queries RUNNING"] is Status.FAIL
    assert statuses["output topic coins_ohlc_minute advancing"] is Status.FAIL
    assert statuses["output topic coins_moving_average_60s advancing"] is Status.OK
    text = render(checks)
    assert "OHLC_BY_MINUTE: ERROR" in text
    assert "make ksql-apply" in text
    assert failed(checks)


def test_healthcheck_200_with_is_healthy_false_is_a_failure() -> None:
    # HealthCheckResource answers 200 with isHealthy false (engines.md): the body decides.
    server = _applied_server()
    server.unhealthy_with_200 = 1

    checks = ksqldb_checks(KsqlClient(server.client()), STATEMENTS, _fresh, VerifySettings())

    assert checks[0].status is Status.FAIL
    assert "HTTP 200, isHealthy=False" in checks[0].figure
    assert len(checks) == 1


def test_an_unreachable_ksqldb_fails_its_hop_only() -> None:
    server = FakeKsqlServer(healthcheck_errors=1)

    checks = ksqldb_checks(KsqlClient(server.client()), STATEMENTS, _fresh, VerifySettings())

    assert [(c.name, c.status) for c in checks] == [("server healthy", Status.FAIL)]
    assert "KSQLDB_HEAP_MAX" in checks[0].fix


@pytest.fixture
def metabase_settings() -> MetabaseSettings:
    return MetabaseSettings(
        url="http://metabase.test",
        admin_password=SecretStr("Admin-Secret-4711"),
        retry_wait_seconds=0,
        health_timeout_seconds=1,
    )


def _provisioned(settings: MetabaseSettings, definitions: Definitions, runner: Any) -> FakeMetabase:
    fake = FakeMetabase(query_runner=runner)
    with MetabaseClient(settings.url, transport=fake.transport(), retry_wait_seconds=0) as client:
        Provisioner(client, settings, definitions).run()
    return fake


def _metabase(
    fake: FakeMetabase, settings: MetabaseSettings, definitions: Definitions
) -> list[Check]:
    with MetabaseClient(settings.url, transport=fake.transport(), retry_wait_seconds=0) as client:
        return metabase_checks(client, settings, definitions)


def test_every_card_runs_and_returns_rows(
    metabase_settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = _provisioned(metabase_settings, definitions, lambda sql: (["x"], [[1]]))

    checks = _metabase(fake, metabase_settings, definitions)

    assert [c.status for c in checks] == [Status.OK] * 4
    total = len(definitions.questions)
    assert checks[-1].figure == f"{total}/{total} cards"
    queried = {r.path for r in fake.requests if r.path.endswith("/query")}
    assert len(queried) == total


def test_without_ksqldb_exactly_the_ksqldb_cards_are_named_empty(
    metabase_settings: MetabaseSettings, definitions: Definitions
) -> None:
    def runner(sql: str) -> tuple[list[str], list[list[Any]]]:
        return ["x"], [] if "crypto.ksql_" in sql else [[1]]

    fake = _provisioned(metabase_settings, definitions, runner)

    checks = _metabase(fake, metabase_settings, definitions)

    cards = checks[-1]
    assert cards.status is Status.FAIL
    named = {part.strip().removesuffix(": no rows") for part in cards.figure.split(";")}
    assert named == KSQLDB_CARDS
    assert "ksqlDB cards need ksqlDB" in cards.fix


def test_a_failing_card_shows_clickhouses_error(
    metabase_settings: MetabaseSettings, definitions: Definitions
) -> None:
    def runner(sql: str) -> tuple[list[str], list[list[Any]]]:
        if "coin_overview" in sql:
            raise RuntimeError("Code: 60. Table crypto.coin_overview does not exist")
        return ["x"], [[1]]

    fake = _provisioned(metabase_settings, definitions, runner)

    cards = _metabase(fake, metabase_settings, definitions)[-1]

    assert cards.status is Status.FAIL
    assert "Table crypto.coin_overview does not exist" in cards.figure


def test_an_unhealthy_metabase_stops_at_health(
    metabase_settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase(unhealthy_polls=1)

    checks = _metabase(fake, metabase_settings, definitions)

    assert [(c.name, c.status) for c in checks] == [("healthy", Status.FAIL)]


def test_missing_dashboards_and_an_unsynced_connection_fail(
    metabase_settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = _provisioned(metabase_settings, definitions, lambda sql: (["x"], [[1]]))
    fake.archive("dashboard", "Intraday")
    next(iter(fake.databases.values()))["initial_sync_status"] = "incomplete"

    statuses = _statuses(_metabase(fake, metabase_settings, definitions))

    assert statuses["dashboards exist"] is Status.FAIL
    assert statuses["connection 'ClickHouse crypto' synced"] is Status.FAIL


def test_warnings_do_not_fail_and_the_report_lists_every_fix() -> None:
    checks = [
        Check("Kafka", "dead letters", Status.WARN, "3 messages", "read them"),
        Check("ClickHouse", "newest tick", Status.OK, "newest 2 s ago"),
    ]
    assert not failed(checks)
    text = render(checks)
    assert "How to fix:" in text
    assert "Kafka / dead letters: read them" in text


def test_unknown_hops_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--only", "kafka,postgres"])
    assert raised.value.code == 2
    assert "unknown hop(s): postgres" in capsys.readouterr().err
