"""The provisioner's API call sequence against the recorded-contract fake Metabase."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from provisioning.metabase.client import MetabaseClient
from provisioning.metabase.definitions import Definitions
from provisioning.metabase.errors import (
    MetabaseApiError,
    MetabaseError,
    MetabaseUnreachableError,
    SetupTokenMissingError,
)
from provisioning.metabase.payloads import card_differences, card_payload, dashboard_parameter_id
from provisioning.metabase.provisioner import Provisioner, ProvisionReport
from provisioning.metabase.settings import MetabaseSettings
from tests.support.fake_ksqldb import FakeClock
from tests.support.fake_metabase import MASKED_PASSWORD, FakeMetabase

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS_DIR = REPO_ROOT / "metabase"
ADMIN_PASSWORD = "Admin-Secret-4711"
READER_PASSWORD = "Reader-Secret-0815"


@pytest.fixture
def settings() -> MetabaseSettings:
    return MetabaseSettings(
        url="http://metabase.test",
        admin_email="admin@example.com",
        admin_password=SecretStr(ADMIN_PASSWORD),
        clickhouse_host="clickhouse",
        clickhouse_port=8123,
        clickhouse_database="crypto",
        clickhouse_user="metabase_reader",
        clickhouse_password=SecretStr(READER_PASSWORD),
        http_attempts=3,
        retry_wait_seconds=0,
        health_timeout_seconds=5,
    )


def provision(
    fake: FakeMetabase,
    settings: MetabaseSettings,
    definitions: Definitions,
    clock: FakeClock | None = None,
) -> ProvisionReport:
    clock = clock or FakeClock()
    client = MetabaseClient(
        settings.url,
        attempts=settings.http_attempts,
        retry_wait_seconds=0,
        secrets=[ADMIN_PASSWORD, READER_PASSWORD],
        transport=fake.transport(),
    )
    with client:
        return Provisioner(client, settings, definitions, sleep=clock.sleep, monotonic=clock).run()


def test_first_run_sets_up_connects_syncs_and_creates_everything(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase()

    report = provision(fake, settings, definitions)

    writes = fake.writes()
    database_id = next(iter(fake.databases))
    dashboard_ids = sorted(fake.dashboards)
    expected_writes = [
        ("POST", "/api/setup"),
        ("POST", "/api/database"),
        ("POST", f"/api/database/{database_id}/sync_schema"),
        ("POST", "/api/collection"),
        ("POST", "/api/collection"),
        *[("POST", "/api/card")] * len(definitions.questions),
    ]
    for dashboard_id in dashboard_ids:
        expected_writes += [("POST", "/api/dashboard"), ("PUT", f"/api/dashboard/{dashboard_id}")]
    assert writes == expected_writes
    assert fake.calls()[:2] == [("GET", "/api/health"), ("GET", "/api/session/properties")]
    assert fake.syncs == [database_id]
    assert list(fake.users) == ["admin@example.com"]
    assert fake.users["admin@example.com"]["password"] == ADMIN_PASSWORD
    objects = len(definitions.questions) + len(definitions.dashboards)
    assert len(report.created) == 1 + 1 + 2 + objects
    assert report.updated == []


def test_first_run_uses_the_read_only_clickhouse_user(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase()
    provision(fake, settings, definitions)

    (database,) = fake.databases.values()
    assert database["engine"] == "clickhouse"
    assert database["details"] == {
        "host": "clickhouse",
        "port": 8123,
        "user": "metabase_reader",
        "password": READER_PASSWORD,
        "dbname": "crypto",
        "ssl": False,
        "scan-all-databases": False,
    }


def test_content_lands_in_the_collections_with_layout_filters_and_attribution(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase()
    report = provision(fake, settings, definitions)

    collections = {c["name"]: (i, c) for i, c in fake.collections.items()}
    parent_id, parent = collections["Crypto stream"]
    child_id, child = collections["Crypto stream questions"]
    assert parent["location"] == "/"
    assert child["location"] == f"/{parent_id}/"
    assert {c["collection_id"] for c in fake.cards.values()} == {child_id}
    assert {d["name"] for d in fake.dashboards.values()} == {d.name for d in definitions.dashboards}
    assert {d["collection_id"] for d in fake.dashboards.values()} == {parent_id}

    for definition in definitions.dashboards:
        stored = fake.dashboard_named(definition.name)
        assert len(stored["dashcards"]) == len(definition.cards)
        texts = [
            d["visualization_settings"]["text"] for d in stored["dashcards"] if d["card_id"] is None
        ]
        assert any("https://www.livecoinwatch.com" in text for text in texts), definition.name
        assert all(d["id"] > 0 for d in stored["dashcards"]), "negative ids are replaced"

    intraday = fake.dashboard_named("Intraday")
    ohlc_card_id = next(
        i for i, c in fake.cards.items() if c["name"] == "Intraday: minute OHLC (ksqlDB)"
    )
    (ohlc_dashcard,) = [d for d in intraday["dashcards"] if d["card_id"] == ohlc_card_id]
    assert sorted(map(str, ohlc_dashcard["parameter_mappings"])) == sorted(
        str(
            {
                "parameter_id": dashboard_parameter_id("Intraday", slug),
                "card_id": ohlc_card_id,
                "target": ["variable", ["template-tag", slug]],
            }
        )
        for slug in ("coin", "hours")
    )
    assert report.dashboard_links["Market now"].endswith("#refresh=60")


def test_second_run_only_reads(settings: MetabaseSettings, definitions: Definitions) -> None:
    fake = FakeMetabase()
    provision(fake, settings, definitions)
    fake.reset_log()

    report = provision(fake, settings, definitions)

    assert fake.writes() == [("POST", "/api/session")], "only the login may POST"
    assert not report.changed_anything
    assert fake.syncs == [next(iter(fake.databases))], "no second sync"
    assert len(report.unchanged) == 1 + 2 + len(definitions.questions) + len(definitions.dashboards)


def test_changed_files_update_exactly_the_changed_objects(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase()
    provision(fake, settings, definitions)
    question = definitions.question("Risk: 30-day volatility per coin")
    changed_question = question.model_copy(update={"sql": question.sql + "\nLIMIT 5"})
    dashboard = next(d for d in definitions.dashboards if d.name == "Indicators")
    moved_card = dashboard.cards[-1].model_copy(update={"height": 9})
    changed_dashboard = dashboard.model_copy(update={"cards": [*dashboard.cards[:-1], moved_card]})
    changed = Definitions(
        collections=definitions.collections,
        questions=[
            changed_question if q.name == question.name else q for q in definitions.questions
        ],
        dashboards=[
            changed_dashboard if d.name == dashboard.name else d for d in definitions.dashboards
        ],
    )
    fake.reset_log()

    report = provision(fake, settings, changed)

    card_id = next(i for i, c in fake.cards.items() if c["name"] == question.name)
    dashboard_id = next(i for i, d in fake.dashboards.items() if d["name"] == "Indicators")
    assert fake.writes() == [
        ("POST", "/api/session"),
        ("PUT", f"/api/card/{card_id}"),
        ("PUT", f"/api/dashboard/{dashboard_id}"),
    ]
    assert report.updated == [f"question {question.name!r}", "dashboard 'Indicators'"]
    assert fake.cards[card_id]["dataset_query"]["native"]["query"].endswith("LIMIT 5")
    heights = sorted(d["size_y"] for d in fake.dashboards[dashboard_id]["dashcards"])
    assert 9 in heights
    assert len(fake.dashboards[dashboard_id]["dashcards"]) == len(dashboard.cards)


def test_a_changed_connection_is_rewritten_and_synced(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase()
    provision(fake, settings, definitions)
    fake.reset_log()

    moved = settings.model_copy(update={"clickhouse_host": "clickhouse.internal"})
    report = provision(fake, moved, definitions)

    database_id = next(iter(fake.databases))
    assert fake.writes() == [
        ("POST", "/api/session"),
        ("PUT", f"/api/database/{database_id}"),
        ("POST", f"/api/database/{database_id}/sync_schema"),
    ]
    assert fake.databases[database_id]["details"]["host"] == "clickhouse.internal"
    assert report.updated == ["database 'ClickHouse crypto'"]


def test_the_masked_password_is_not_mistaken_for_a_change(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase()
    provision(fake, settings, definitions)
    client = MetabaseClient(settings.url, transport=fake.transport())
    client.use_session(next(iter(fake.sessions)))
    database_id = next(iter(fake.databases))
    stored = client.get_object(f"/api/database/{database_id}")
    assert stored["details"]["password"] == MASKED_PASSWORD
    fake.reset_log()

    report = provision(fake, settings, definitions)

    assert "database 'ClickHouse crypto'" in report.unchanged
    assert ("GET", f"/api/database/{database_id}") in fake.calls()


def test_force_database_update_rewrites_the_password(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase()
    provision(fake, settings, definitions)
    rotated = settings.model_copy(update={"clickhouse_password": SecretStr("Rotated-Secret-1")})
    client = MetabaseClient(settings.url, retry_wait_seconds=0, transport=fake.transport())
    with client:
        Provisioner(client, rotated, definitions).run(force_database_update=True)

    (database,) = fake.databases.values()
    assert database["details"]["password"] == "Rotated-Secret-1"


def test_no_setup_token_and_no_admin_is_a_clear_error(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase(publish_setup_token=False)

    with pytest.raises(SetupTokenMissingError, match="setup-token"):
        provision(fake, settings, definitions)
    assert fake.writes() == []


def test_an_existing_admin_with_another_password_names_the_setting(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase()
    provision(fake, settings, definitions)
    wrong = settings.model_copy(update={"admin_password": SecretStr("Not-The-Password-1")})

    with pytest.raises(MetabaseError) as raised:
        provision(fake, wrong, definitions)

    message = str(raised.value)
    assert "POST /api/session -> HTTP 401" in message
    assert "METABASE_ADMIN_PASSWORD" in message
    assert "Not-The-Password-1" not in message


def test_a_4xx_fails_at_once_with_call_status_and_body(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase()
    fake.fail("POST", "/api/card", [400], body='{"errors":{"display":"value must be a string."}}')

    with pytest.raises(MetabaseApiError) as raised:
        provision(fake, settings, definitions)

    error = raised.value
    assert (error.method, error.path, error.status) == ("POST", "/api/card", 400)
    assert 'POST /api/card -> HTTP 400: {"errors":{"display":"value must be a string."}}' in str(
        error
    )
    assert fake.writes().count(("POST", "/api/card")) == 1


def test_a_5xx_on_a_read_is_retried_then_fails_clearly(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase()
    fake.fail("GET", "/api/collection", [500, 502, 503], body="Internal error: pool exhausted")

    with pytest.raises(MetabaseApiError) as raised:
        provision(fake, settings, definitions)

    assert raised.value.status == 503
    assert "GET /api/collection -> HTTP 503: Internal error: pool exhausted" in str(raised.value)
    assert fake.calls().count(("GET", "/api/collection")) == settings.http_attempts


def test_a_passing_5xx_is_retried_and_the_run_succeeds(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase()
    fake.fail("POST", "/api/card", [503, 502])
    fake.fail("GET", "/api/database", [500])

    report = provision(fake, settings, definitions)

    assert len(fake.cards) == len(definitions.questions), "no duplicate card"
    assert fake.writes().count(("POST", "/api/card")) == len(definitions.questions) + 2
    assert f"dashboard {'Market now'!r}" in report.created


def test_a_500_on_a_post_that_created_nothing_is_posted_once_more(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    # The POST may have created the object: it is looked up first, then posted again once.
    fake = FakeMetabase()
    fake.fail("POST", "/api/dashboard", [500], body="boom")

    provision(fake, settings, definitions)

    assert fake.writes().count(("POST", "/api/dashboard")) == len(definitions.dashboards) + 1
    assert len(fake.dashboards) == len(definitions.dashboards)


@pytest.mark.parametrize("path", ["/api/card", "/api/dashboard", "/api/collection"])
def test_a_post_whose_answer_is_lost_creates_no_duplicate(
    settings: MetabaseSettings, definitions: Definitions, path: str
) -> None:
    # Metabase carried the POST out, then the client's read timed out.
    fake = FakeMetabase()
    fake.fail("POST", path, [200], commit=True, timeout=True)

    provision(fake, settings, definitions)

    assert len(fake.cards) == len(definitions.questions)
    assert len(fake.dashboards) == len(definitions.dashboards)
    assert len([c for c in fake.collections.values() if not c["personal_owner_id"]]) == 2
    fake.reset_log()
    assert not provision(fake, settings, definitions).changed_anything


def test_a_setup_whose_answer_is_lost_logs_in_instead_of_a_second_setup(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase()
    fake.fail("POST", "/api/setup", [200], commit=True, timeout=True)

    report = provision(fake, settings, definitions)

    assert fake.writes().count(("POST", "/api/setup")) == 1, "a second setup answers 403"
    assert ("POST", "/api/session") in fake.writes()
    assert f"admin {settings.admin_email!r}" in report.created


def test_a_second_setup_is_refused_with_403(settings: MetabaseSettings) -> None:
    fake = FakeMetabase()
    token = fake.setup_token
    user = {"email": "a@example.com", "password": "Secret-4711", "first_name": "A"}
    with MetabaseClient("http://metabase.test", transport=fake.transport(), attempts=1) as client:
        client.post("/api/setup", {"token": token, "user": user})
        with pytest.raises(MetabaseApiError) as raised:
            client.post("/api/setup", {"token": token, "user": user})
    assert raised.value.status == 403


def test_trashed_questions_and_dashboards_are_restored_not_recreated(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase()
    provision(fake, settings, definitions)
    card_id = fake.archive("card", "Market now: market cap share")
    dashboard_id = fake.archive("dashboard", "Intraday")
    cards_before, dashboards_before = len(fake.cards), len(fake.dashboards)

    report = provision(fake, settings, definitions)

    assert (len(fake.cards), len(fake.dashboards)) == (cards_before, dashboards_before)
    assert not fake.cards[card_id]["archived"]
    assert not fake.dashboards[dashboard_id]["archived"]
    assert "question 'Market now: market cap share'" in report.updated
    assert "dashboard 'Intraday'" in report.updated


def test_a_dashboard_given_tabs_in_the_ui_fails_with_advice(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase()
    provision(fake, settings, definitions)
    fake.add_tab("Intraday")
    fake.dashboard_named("Intraday")["dashcards"][0]["size_y"] += 1  # and a UI layout edit

    with pytest.raises(MetabaseError) as raised:
        provision(fake, settings, definitions)

    message = str(raised.value)
    assert "dashboard 'Intraday'" in message
    assert "has tabs" in message
    assert "remove the tabs in the UI" in message


def test_the_fake_refuses_dashcards_without_a_tab_like_metabase(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase()
    provision(fake, settings, definitions)
    fake.add_tab("Intraday")
    dashboard = fake.dashboard_named("Intraday")
    dashboard_id = next(i for i, d in fake.dashboards.items() if d is dashboard)
    with MetabaseClient("http://metabase.test", transport=fake.transport(), attempts=1) as client:
        client.use_session(next(iter(fake.sessions)))
        with pytest.raises(MetabaseApiError) as raised:
            client.put(
                f"/api/dashboard/{dashboard_id}",
                {"dashcards": [{**d, "dashboard_tab_id": None} for d in dashboard["dashcards"]]},
            )
    assert raised.value.status == 400
    assert "This dashboard has tab, makes sure every card has a tab" in raised.value.body


def test_the_pie_card_is_stored_migrated_and_a_second_run_leaves_it_alone(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase()
    provision(fake, settings, definitions)
    stored = fake.card_named("Market now: market cap share")["visualization_settings"]
    assert stored["pie.percent_visibility"] == "inside"

    # the form Metabase gives a file that only says show_legend
    legacy = {k: v for k, v in stored.items() if k != "pie.percent_visibility"}
    fake.card_named("Market now: market cap share")["visualization_settings"] = {
        **legacy,
        "pie.percent_visibility": "inside",
        "version": 2,
    }
    fake.reset_log()
    report = provision(fake, settings, definitions)
    assert not report.changed_anything
    assert ("PUT", f"/api/card/{fake.card_id('Market now: market cap share')}") not in fake.writes()


def test_card_queries_are_capped_at_2000_rows_like_metabase(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    seen: list[str] = []

    def runner(sql: str) -> tuple[list[str], list[list[object]]]:
        seen.append(sql)
        return ["ts", "price"], [[i, 1.0] for i in range(2500)]

    fake = FakeMetabase(query_runner=runner)
    provision(fake, settings, definitions)
    card_id = fake.card_id("Market now: price change per tick")
    with MetabaseClient("http://metabase.test", transport=fake.transport(), attempts=1) as client:
        client.use_session(next(iter(fake.sessions)))
        answer = client.post(f"/api/card/{card_id}/query")

    assert answer["status"] == "completed"
    assert len(answer["data"]["rows"]) == 2000
    assert answer["data"]["rows_truncated"] == 2000
    assert "WHERE code = 'BTC'" in seen[0]


def test_an_unreachable_clickhouse_is_reported_with_metabases_answer(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    fake = FakeMetabase(clickhouse_reachable=False)

    with pytest.raises(MetabaseApiError) as raised:
        provision(fake, settings, definitions)

    assert "POST /api/database -> HTTP 400" in str(raised.value)
    assert "Connection refused" in str(raised.value)


def test_it_waits_for_health_by_polling_then_gives_up_with_a_deadline(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    clock = FakeClock()
    fake = FakeMetabase(unhealthy_polls=3)
    provision(fake, settings, definitions, clock)
    assert len(clock.sleeps) == 3

    stuck = FakeMetabase(unhealthy_polls=10_000)
    with pytest.raises(MetabaseError, match=r"GET /api/health did not answer 200 within 5 s"):
        provision(stuck, settings, definitions, FakeClock())
    assert stuck.writes() == []


def test_an_unreachable_metabase_is_reported_after_the_retries(
    settings: MetabaseSettings, definitions: Definitions
) -> None:
    import httpx

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = MetabaseClient(
        settings.url, attempts=2, retry_wait_seconds=0, transport=httpx.MockTransport(refuse)
    )
    with pytest.raises(MetabaseUnreachableError, match=r"GET /api/collection: no answer after 2"):
        client.get("/api/collection")


def test_secrets_never_reach_logs_or_errors(
    settings: MetabaseSettings, definitions: Definitions, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeMetabase()
    fake.fail("GET", "/api/collection", [503, 503], body=f"echo {READER_PASSWORD}")
    fake.fail("POST", "/api/card", [422], body=f"bad request with {ADMIN_PASSWORD}")

    with pytest.raises(MetabaseApiError) as raised:
        provision(fake, settings, definitions)

    session_ids = list(fake.sessions)
    visible = caplog.text + str(raised.value) + repr(settings)
    for secret in [ADMIN_PASSWORD, READER_PASSWORD, *session_ids]:
        assert secret not in visible
    assert "***" in str(raised.value)
    assert "retrying metabase call GET /api/collection after attempt 1/3 failed" in caplog.text


def test_stored_cards_match_despite_keys_and_number_text_metabase_adds(
    definitions: Definitions,
) -> None:
    question = definitions.question("Intraday: minute OHLC (ksqlDB)")
    desired = card_payload(question, database_id=2, collection_id=3)
    stored = json.loads(json.dumps(desired))
    stored["id"] = 7
    stored["created_at"] = "2026-11-24T04:00:00Z"
    hours = stored["dataset_query"]["native"]["template-tags"]["hours"]
    hours["default"] = "6"
    hours["widget-type"] = "number/="

    assert card_differences(desired, stored) == []

    stored["visualization_settings"]["graph.metrics"] = ["close"]
    hours["default"] = "12"
    assert card_differences(desired, stored) == ["visualization_settings", "template-tags"]
