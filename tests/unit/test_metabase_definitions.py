"""The dashboards-as-code files: schema, cross-references, layout, and the required content."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from provisioning.metabase.cli import validate_files
from provisioning.metabase.definitions import (
    GRID_COLUMNS,
    DashboardCard,
    DashboardDefinition,
    DefinitionError,
    Definitions,
    QuestionDefinition,
    load_definitions,
)
from provisioning.metabase.schema import json_schemas, render_schema, schema_file_name
from tests.support.metabase_columns import referenced_columns

DEFINITIONS_DIR = Path(__file__).resolve().parents[2] / "metabase"
DASHBOARDS = [
    "Market now",
    "Intraday",
    "Indicators",
    "Risk & performance",
    "Pipeline health",
    "Portfolio",
    "Alerts",
]


def yaml_files(kind: str) -> list[Path]:
    return sorted((DEFINITIONS_DIR / kind).rglob("*.yaml"))


@pytest.mark.parametrize("kind", ["collections", "questions", "dashboards"])
def test_committed_schema_is_what_the_models_generate(kind: str) -> None:
    committed = (DEFINITIONS_DIR / "schema" / schema_file_name(kind)).read_text()
    assert committed == render_schema(json_schemas()[kind]), "run `coins-metabase schema`"


@pytest.mark.parametrize(
    "path",
    [p for kind in ("collections", "questions", "dashboards") for p in yaml_files(kind)],
    ids=lambda p: str(p.relative_to(DEFINITIONS_DIR)),
)
def test_every_file_validates_against_its_committed_schema(path: Path) -> None:
    kind = path.relative_to(DEFINITIONS_DIR).parts[0]
    schema = json.loads((DEFINITIONS_DIR / "schema" / schema_file_name(kind)).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    first_line = path.read_text().splitlines()[0]
    assert first_line.startswith("# yaml-language-server: $schema=")
    referenced = (path.parent / first_line.split("=", 1)[1]).resolve()
    assert referenced == (DEFINITIONS_DIR / "schema" / schema_file_name(kind)).resolve()


def test_the_whole_set_is_consistent(definitions: Definitions) -> None:
    assert validate_files(DEFINITIONS_DIR) == len(list(DEFINITIONS_DIR.rglob("*.yaml")))
    assert [d.name for d in definitions.dashboards] == sorted(DASHBOARDS)


def test_the_five_dashboards_credit_livecoinwatch(definitions: Definitions) -> None:
    for dashboard in definitions.dashboards:
        texts = [card.text for card in dashboard.cards if card.text is not None]
        assert any("(https://www.livecoinwatch.com)" in text for text in texts), dashboard.name


def test_live_dashboards_refresh_every_minute(definitions: Definitions) -> None:
    refresh = {d.name: d.auto_refresh_seconds for d in definitions.dashboards}
    assert refresh["Market now"] == 60
    assert refresh["Pipeline health"] == 60


def test_every_question_is_on_a_dashboard_and_charts_name_their_axes(
    definitions: Definitions,
) -> None:
    placed = {c.question for d in definitions.dashboards for c in d.cards if c.question}
    assert placed == {q.name for q in definitions.questions}
    for question in definitions.questions:
        settings = question.visualization_settings
        if question.display in {"line", "bar", "combo", "row", "area"}:
            assert settings.get("graph.dimensions"), question.name
            assert settings.get("graph.metrics"), question.name
        if question.display == "scalar":
            assert settings.get("scalar.field"), question.name
        assert "candlestick" not in json.dumps(settings)


def test_a_coin_filter_reaches_the_intraday_charts(definitions: Definitions) -> None:
    intraday = next(d for d in definitions.dashboards if d.name == "Intraday")
    filtered = [c for c in intraday.cards if c.filters.get("coin") == "coin"]
    names = {c.question for c in filtered}
    assert {"Intraday: minute OHLC (ksqlDB)", "Intraday: 60 s moving average (ksqlDB)"} <= names


def question(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "q",
        "collection": "c",
        "display": "table",
        "sql": "SELECT 1 AS one",
    }
    return {**base, **overrides}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sql": "SELECT {{coin}} AS x"}, "do not match declared parameters"),
        (
            {"sql": "SELECT {{coin}} AS x", "parameters": [{"name": "coin", "display_name": "C"}]},
            "needs a default",
        ),
        ({"sql": "SELECT 1;"}, "trailing semicolon"),
        ({"display": "candlestick"}, "display"),
        ({"name": "   "}, "name"),
        ({"unknown_key": 1}, "unknown_key"),
    ],
)
def test_invalid_questions_are_rejected(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QuestionDefinition.model_validate(question(**overrides))


def test_an_optional_clause_variable_needs_no_default() -> None:
    parsed = QuestionDefinition.model_validate(
        question(
            sql="SELECT 1 AS one WHERE 1 [[AND code = {{coin}}]]",
            parameters=[{"name": "coin", "display_name": "Coin"}],
        )
    )
    assert parsed.tag("coin") is not None


def card(**overrides: Any) -> dict[str, Any]:
    return {"question": "q", "row": 0, "col": 0, "width": 6, "height": 4, **overrides}


@pytest.mark.parametrize(
    ("cards", "message"),
    [
        ([card(col=20, width=6)], f"{GRID_COLUMNS}-column grid"),
        ([card(), card(col=3)], "overlap"),
        ([card(text="hi")], "exactly one of"),
        ([card(filters={"coin": "coin"})], "unknown parameters"),
        ([], "at least 1"),
    ],
)
def test_invalid_layouts_are_rejected(cards: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DashboardDefinition.model_validate({"name": "d", "collection": "c", "cards": cards})


def test_cross_file_references_are_checked(definitions: Definitions) -> None:
    dashboard = DashboardDefinition(
        name="Broken",
        collection="Nowhere",
        parameters=[{"slug": "coin", "name": "Coin"}],  # type: ignore[list-item]
        cards=[
            DashboardCard(question="No such question", row=0, col=0, width=4, height=4),
            DashboardCard(
                question="Risk: 30-day volatility per coin",
                row=4,
                col=0,
                width=4,
                height=4,
                filters={"coin": "coin"},
            ),
        ],
    )
    with pytest.raises(ValueError, match="unknown collection") as raised:
        Definitions(
            collections=definitions.collections,
            questions=[*definitions.questions, definitions.questions[0]],
            dashboards=[dashboard],
        )
    message = str(raised.value)
    assert "unknown collection 'Nowhere'" in message
    assert "unknown question 'No such question'" in message
    assert "not a variable of question 'Risk: 30-day volatility per coin'" in message
    assert "duplicate question names" in message


def test_a_broken_file_is_named_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "collections").mkdir()
    (tmp_path / "collections" / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(DefinitionError, match=r"bad\.yaml: not valid YAML"):
        load_definitions(tmp_path)
    (tmp_path / "collections" / "bad.yaml").write_text("name: C\ncolour: red\n")
    with pytest.raises(DefinitionError, match=r"(?s)bad\.yaml: .*colour.*Extra inputs"):
        load_definitions(tmp_path)


def test_referenced_columns_cover_every_kind_of_setting() -> None:
    settings = {
        "graph.dimensions": ["day", "code"],
        "graph.metrics": ["close"],
        "scalar.field": "total",
        "pie.dimension": "code",
        "table.columns": [{"name": "topic", "enabled": True}],
        "column_settings": {'["name","cap"]': {"decimals": 0}, "not json": {}},
        "series_settings": {"sma_10": {"title": "SMA 10"}},
    }
    assert referenced_columns(settings) == {
        "day",
        "code",
        "close",
        "total",
        "topic",
        "cap",
        "sma_10",
    }


def documented_tables() -> set[str]:
    """The views and snapshot tables clickhouse/init/README.md offers to the Metabase cards."""
    readme = (DEFINITIONS_DIR.parent / "clickhouse" / "init" / "README.md").read_text()
    snapshots = readme.split("## Snapshots", 1)[1].split("\n## ", 1)[0]
    views = readme.split("## Views and their columns", 1)[1]
    first_column = re.compile(r"^\| `([a-z_0-9]+)` \|", flags=re.MULTILINE)
    return set(first_column.findall(snapshots)) | set(first_column.findall(views))


def test_questions_read_documented_views_and_snapshots_never_raw_tables(
    definitions: Definitions,
) -> None:
    # Dashboards must not scan raw ticks; the rejected-messages list is the one table read.
    allowed = documented_tables() | {"ingest_errors"}
    assert {"coin_overview", "rsi_daily_snapshot"} <= allowed
    for question in definitions.questions:
        read = set(re.findall(r"\bcrypto\.([a-z_0-9]+)", question.sql))
        assert read, question.name
        assert read <= allowed, (question.name, read - allowed)


def test_daily_indicator_cards_read_the_snapshots(definitions: Definitions) -> None:
    for question in definitions.questions:
        if question.name.startswith(("Indicators:", "Risk:", "Performance:")):
            assert "_snapshot" in question.sql, question.name
