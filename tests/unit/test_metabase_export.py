"""`coins-metabase export`: a dashboard edited in the UI goes back to the files, and round-trips."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
from pathlib import Path

import pytest
from pydantic import SecretStr

from provisioning.metabase.cli import run
from provisioning.metabase.client import MetabaseClient
from provisioning.metabase.definitions import load_definitions
from provisioning.metabase.errors import ContractError, MetabaseError
from provisioning.metabase.export import DashboardExporter
from provisioning.metabase.settings import MetabaseSettings
from tests.support.fake_metabase import FakeMetabase
from tests.support.waiting import eventually

REPO_DEFINITIONS = Path(__file__).resolve().parents[2] / "metabase"


@pytest.fixture
def definitions_dir(tmp_path: Path) -> Path:
    copy = tmp_path / "metabase"
    shutil.copytree(REPO_DEFINITIONS, copy)
    return copy


@pytest.fixture
def settings(definitions_dir: Path) -> MetabaseSettings:
    return MetabaseSettings(
        url="http://metabase.test",
        admin_password=SecretStr("Admin-Secret-4711"),
        clickhouse_password=SecretStr("Reader-Secret-0815"),
        definitions_dir=definitions_dir,
        retry_wait_seconds=0,
        health_timeout_seconds=1,
    )


@pytest.fixture
def fake(settings: MetabaseSettings) -> FakeMetabase:
    fake = FakeMetabase()
    assert run([], settings=settings, transport=fake.transport()) == 0, "provision is the default"
    return fake


def logged_in_client(fake: FakeMetabase) -> MetabaseClient:
    client = MetabaseClient(
        "http://metabase.test", retry_wait_seconds=0, transport=fake.transport()
    )
    client.use_session(next(iter(fake.sessions)))
    return client


def snapshot(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): p.read_text() for p in sorted(directory.rglob("*.yaml"))}


def test_exporting_an_unedited_dashboard_changes_no_file(
    fake: FakeMetabase, definitions_dir: Path
) -> None:
    before = snapshot(definitions_dir)
    with logged_in_client(fake) as client:
        written = DashboardExporter(client, definitions_dir).export("Market now")
    assert written == []
    assert snapshot(definitions_dir) == before


def test_export_writes_no_migration_bookkeeping(fake: FakeMetabase, definitions_dir: Path) -> None:
    # Metabase stores {pie.show_legend: true} as {..., pie.percent_visibility: inside,
    # version: 2} (interface.clj): the file must not gain the version key.
    card = fake.card_named("Market now: market cap share")
    card["visualization_settings"] = {**card["visualization_settings"], "version": 2}
    with logged_in_client(fake) as client:
        DashboardExporter(client, definitions_dir).export("Market now")
    text = (definitions_dir / "questions" / "market_now" / "market_cap_share.yaml").read_text()
    assert "\n  version:" not in text
    assert "pie.percent_visibility: inside" in text


def test_ui_edits_are_written_back_and_provisioning_them_is_a_no_op(
    fake: FakeMetabase, settings: MetabaseSettings, definitions_dir: Path
) -> None:
    before = snapshot(definitions_dir)
    dashboard_id = next(i for i, d in fake.dashboards.items() if d["name"] == "Indicators")
    rsi_id = next(i for i, c in fake.cards.items() if c["name"] == "Indicators: RSI 14")
    # The UI edits: the RSI chart grows, a note is added, and the RSI SQL gets a longer window.
    for dashcard in fake.dashboards[dashboard_id]["dashcards"]:
        if dashcard["card_id"] == rsi_id:
            dashcard.update(row=24, col=0, size_x=24, size_y=9)
        elif dashcard["card_id"] == fake.card_id("Indicators: MACD (12, 26, 9)"):
            dashcard.update(row=18, col=0, size_x=24, size_y=6)
    fake.dashboards[dashboard_id]["dashcards"].append(
        {
            "id": 9999,
            "card_id": None,
            "row": 33,
            "col": 0,
            "size_x": 24,
            "size_y": 2,
            "parameter_mappings": [],
            "series": [],
            "visualization_settings": {
                "virtual_card": {"display": "text"},
                "text": "Edited in the UI.\nSecond line.",
            },
        }
    )
    native = fake.cards[rsi_id]["dataset_query"]["native"]
    native["query"] = native["query"].replace("ORDER BY day", "ORDER BY day DESC")

    assert run(["export", "Indicators"], settings=settings, transport=fake.transport()) == 0

    after = snapshot(definitions_dir)
    changed = sorted(name for name in after if after[name] != before.get(name))
    assert changed == ["dashboards/indicators.yaml", "questions/indicators/rsi.yaml"]
    exported = load_definitions(definitions_dir)
    indicators = next(d for d in exported.dashboards if d.name == "Indicators")
    rsi_card = next(c for c in indicators.cards if c.question == "Indicators: RSI 14")
    assert (rsi_card.row, rsi_card.col, rsi_card.width, rsi_card.height) == (24, 0, 24, 9)
    assert rsi_card.filters == {"coin": "coin", "days": "days"}
    assert indicators.cards[-1].text == "Edited in the UI.\nSecond line."
    assert "ORDER BY day DESC" in exported.question("Indicators: RSI 14").sql
    assert "sql: |-\n" in after["questions/indicators/rsi.yaml"], "SQL stays a readable block"

    fake.reset_log()
    assert run(["provision"], settings=settings, transport=fake.transport()) == 0
    assert fake.writes() == [("POST", "/api/session")]


def test_export_keeps_the_refresh_interval_metabase_does_not_store(
    fake: FakeMetabase, settings: MetabaseSettings, definitions_dir: Path
) -> None:
    dashboard = fake.dashboard_named("Market now")
    dashboard["description"] = "Now with a new description."

    assert run(["export", "Market now"], settings=settings, transport=fake.transport()) == 0

    exported = next(
        d for d in load_definitions(definitions_dir).dashboards if d.name == "Market now"
    )
    assert exported.description == "Now with a new description."
    assert exported.auto_refresh_seconds == 60


def test_a_dashboard_made_in_the_ui_gets_new_files(
    fake: FakeMetabase, settings: MetabaseSettings, definitions_dir: Path
) -> None:
    with logged_in_client(fake) as client:
        collection_id = next(
            i for i, c in fake.collections.items() if c["name"] == "Crypto stream questions"
        )
        database_id = next(iter(fake.databases))
        card = client.post(
            "/api/card",
            {
                "name": "Coins by rank",
                "collection_id": collection_id,
                "display": "table",
                "visualization_settings": {},
                "dataset_query": {
                    "type": "native",
                    "database": database_id,
                    "native": {"query": "SELECT code, rank FROM crypto.coin_overview"},
                },
            },
        )
        dashboard = client.post(
            "/api/dashboard", {"name": "My board", "collection_id": collection_id}
        )
        client.put(
            f"/api/dashboard/{dashboard['id']}",
            {
                "dashcards": [
                    {"id": -1, "card_id": card["id"], "row": 0, "col": 0, "size_x": 12, "size_y": 5}
                ]
            },
        )
        written = DashboardExporter(client, definitions_dir).export("My board")

    assert sorted(p.relative_to(definitions_dir).as_posix() for p in written) == [
        "dashboards/my_board.yaml",
        "questions/coins_by_rank.yaml",
    ]
    reloaded = load_definitions(definitions_dir)
    assert reloaded.question("Coins by rank").collection == "Crypto stream questions"
    assert (
        (definitions_dir / "dashboards/my_board.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=../schema/dashboard.schema.json\n")
    )


def test_export_refuses_what_files_cannot_express(
    fake: FakeMetabase, definitions_dir: Path
) -> None:
    with logged_in_client(fake) as client:
        with pytest.raises(MetabaseError, match="no dashboard named 'Nope'"):
            DashboardExporter(client, definitions_dir).export("Nope")
        fake.dashboard_named("Pipeline health")["tabs"] = [{"id": 1, "name": "Tab 1"}]
        with pytest.raises(ContractError, match="has tabs"):
            DashboardExporter(client, definitions_dir).export("Pipeline health")
        card = fake.card_named("Risk: drawdown per coin")
        card["dataset_query"] = {"type": "query", "database": 1, "query": {"source-table": 3}}
        with pytest.raises(ContractError, match="not a native SQL question"):
            DashboardExporter(client, definitions_dir).export("Risk & performance")


def test_cli_reports_failures_with_exit_status_one(
    settings: MetabaseSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake = FakeMetabase(publish_setup_token=False)
    assert run(["provision"], settings=settings, transport=fake.transport()) == 1
    assert "provision failed: GET /api/session/properties" in caplog.text


def test_cli_validate_and_schema_work_offline(
    settings: MetabaseSettings, definitions_dir: Path
) -> None:
    (definitions_dir / "schema" / "question.schema.json").unlink()
    assert run(["schema"], settings=settings) == 0
    assert (definitions_dir / "schema" / "question.schema.json").exists()
    assert run(["validate"], settings=settings) == 0
    (definitions_dir / "dashboards" / "intraday.yaml").write_text("name: Intraday\n")
    assert run(["--definitions", str(definitions_dir), "validate"], settings=settings) == 1


def test_keep_running_marks_the_job_ready_and_stops_cleanly_on_sigterm(
    settings: MetabaseSettings, tmp_path: Path
) -> None:
    ready = tmp_path / "state" / "provisioned"

    def terminate_once_ready() -> None:
        try:
            eventually(ready.exists, within=30, what=f"{ready} to exist", interval=0.01)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=terminate_once_ready)
    stopper.start()
    status = run(
        ["provision", "--keep-running", str(ready)],
        settings=settings,
        transport=FakeMetabase().transport(),
    )
    stopper.join()

    assert status == 0
    assert not ready.exists()
