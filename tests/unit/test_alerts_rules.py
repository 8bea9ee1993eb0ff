"""The rules file: schema validation with one clear line per problem, naming rule and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.models import AlertMessage, DeliveryMessage
from alerts.rules import RulesError, load_rules, parse_rules
from producers.cli import EXIT_CONFIG, EXIT_OK, main
from provisioning.contracts import example

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RULES = REPO_ROOT / "alerts" / "rules.yaml"


def _document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(DEFAULT_RULES.read_text())
    return document


def _problems(document: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(RulesError) as raised:
        parse_rules(document, **kwargs)
    return raised.value.problems


def test_the_shipped_rules_are_valid_and_cover_every_kind() -> None:
    rules = load_rules(DEFAULT_RULES)
    assert rules.version >= 1
    kinds = {rule.kind for rule in rules.rules}
    assert kinds == {
        "price_above", "price_below", "price_move", "rsi_cross", "sma_cross",
        "all_time_high", "drawdown", "no_tick", "ingest_errors",
    }  # fmt: skip


def test_each_bad_field_is_reported_with_its_rule_and_field() -> None:
    document = _document()
    document["rules"][0]["level"] = "abc"
    del document["rules"][3]["window"]
    document["rules"][4]["levl"] = 3
    document["rules"][5]["coins"] = "btc"
    problems = _problems(document)
    assert problems == [
        "rule 'btc-above-100k' (rules[0]), field 'level': 'abc' is not of type 'number'",
        "rule 'big-move-1h' (rules[3]), field 'window': 'window' is a required property",
        "rule 'quick-move-15m' (rules[4]), field 'levl': unknown field (see "
        "alerts/rules.schema.json for the fields of a rule)",
        "rule 'rsi-overbought' (rules[5]), field 'coins': must be 'all', one coin code "
        "(upper case) or a list of codes",
    ]


def test_rules_without_an_id_are_named_by_position() -> None:
    problems = _problems({"version": 1, "rules": [{"kind": "price_above", "level": 1}]})
    assert problems == ["rule rules[0], field 'id': 'id' is a required property"]


def test_duplicate_ids_foreign_parameters_and_unknown_webhooks_are_refused() -> None:
    document = _document()
    document["rules"][2]["id"] = "btc-above-100k"
    document["rules"][6]["window"] = "1h"
    document["rules"][7]["notify"] = ["pager"]
    problems = _problems(document, webhook_names=["team"])
    assert problems == [
        "rule 'btc-above-100k' (rules[2]), field 'id': duplicate of rules[0]",
        "rule 'rsi-oversold' (rules[6]), field 'window': does not apply to kind rsi_cross",
        "rule 'close-above-sma-50' (rules[7]), field 'notify': no webhook named 'pager' in "
        "COINS_ALERTS_WEBHOOKS",
    ]


def test_condition_hash_ignores_description_cooldown_and_targets_only() -> None:
    base = {"id": "r", "kind": "price_above", "level": 10, "coins": "BTC"}
    first = parse_rules({"version": 1, "rules": [base]}).rules[0]
    cosmetic = {**base, "description": "x", "cooldown": "1h", "coins": ["BTC", "ETH"]}
    second = parse_rules({"version": 2, "rules": [cosmetic]}).rules[0]
    changed = parse_rules({"version": 2, "rules": [{**base, "level": 11}]}).rules[0]
    assert first.condition_hash == second.condition_hash != changed.condition_hash


def test_coins_alerts_refuses_to_start_on_a_bad_file_naming_rule_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _document()
    document["rules"][1]["level"] = -5
    bad = tmp_path / "rules.yaml"
    bad.write_text(yaml.safe_dump(document))
    # no broker is running: the command must stop before it would connect
    assert main(["alerts", "--rules", str(bad)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "rule 'btc-below-80k' (rules[1]), field 'level'" in err
    assert "-5 is less than or equal to the minimum of 0" in err


def test_coins_alerts_check_accepts_the_shipped_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "--check", "--rules", str(DEFAULT_RULES)]) == EXIT_OK
    assert "are valid" in capsys.readouterr().out


def test_not_yaml_is_one_clear_problem(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules: [\n")
    with pytest.raises(RulesError) as raised:
        load_rules(path)
    assert raised.value.problems[0].startswith("not valid YAML")


@pytest.mark.parametrize(
    ("model", "contract"),
    [(AlertMessage, "coins_alerts"), (DeliveryMessage, "coins_alerts_deliveries")],
)
def test_wire_models_match_their_contracts(model: Any, contract: str) -> None:
    expected = example(contract)
    assert json.loads(model.model_validate(expected).to_json_bytes()) == expected
