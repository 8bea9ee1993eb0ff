"""The rules file: load, validate against ``rules.schema.json``, and turn into typed rules.

Every problem is reported at once, one line each, naming the rule (its id, else its position)
and the field, so a bad file refuses to start with a message that says what to fix.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

SCHEMA_FILE = Path(__file__).resolve().parent / "rules.schema.json"

LIVE_KINDS = frozenset({"price_above", "price_below", "price_move"})
INDICATOR_KINDS = frozenset({"rsi_cross", "sma_cross", "all_time_high", "drawdown"})
PIPELINE_KINDS = frozenset({"no_tick", "ingest_errors"})
# Parameters each kind reads; any other one in a rule is a mistake worth refusing.
KIND_PARAMETERS: dict[str, frozenset[str]] = {
    "price_above": frozenset({"level"}),
    "price_below": frozenset({"level"}),
    "price_move": frozenset({"move_pct", "window", "direction"}),
    "rsi_cross": frozenset({"level", "direction"}),
    "sma_cross": frozenset({"sma", "direction"}),
    "all_time_high": frozenset(),
    "drawdown": frozenset({"level"}),
    "no_tick": frozenset({"minutes"}),
    "ingest_errors": frozenset({"per_hour"}),
}
ALL_PARAMETERS = frozenset().union(*KIND_PARAMETERS.values())
# A rule about the whole pipeline, not a coin, uses this in place of a coin code.
PIPELINE_TARGET = "*"

_DURATION = re.compile(r"(?P<amount>[0-9]+)(?P<unit>[smhd])")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
DEFAULT_COOLDOWN_MS = 0
DEFAULT_HYSTERESIS_PCT = 0.0

Coins = Literal["all"] | tuple[str, ...]


class RulesError(Exception):
    """The rules file cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s) in the rules:\n{lines}")


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    coins: Coins
    cooldown_ms: int
    hysteresis_pct: float
    notify: tuple[str, ...] | None
    description: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)

    condition_hash: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # Changes when what the rule tests changes (kind, parameters, hysteresis); not with
        # its description, targets, cooldown or webhooks. Kept state is only reused while equal.
        material = json.dumps(
            {"kind": self.kind, "params": dict(self.params), "hysteresis": self.hysteresis_pct},
            sort_keys=True,
        )
        object.__setattr__(
            self, "condition_hash", hashlib.sha256(material.encode()).hexdigest()[:16]
        )

    @property
    def is_live(self) -> bool:
        return self.kind in LIVE_KINDS

    @property
    def is_pipeline_wide(self) -> bool:
        return self.kind == "ingest_errors"

    def targets(self, followed: Sequence[str]) -> tuple[str, ...]:
        if self.is_pipeline_wide:
            return (PIPELINE_TARGET,)
        if self.coins == "all":
            return tuple(followed)
        return self.coins

    def notifies(self, webhook: str) -> bool:
        return self.notify is None or webhook in self.notify

    def number(self, name: str) -> float:
        return float(self.params[name])

    def text(self, name: str, default: str = "") -> str:
        return str(self.params.get(name, default))

    def duration_ms(self, name: str) -> int:
        return parse_duration_ms(str(self.params[name]))


@dataclass(frozen=True)
class RuleSet:
    version: int
    rules: tuple[Rule, ...]
    source: str = "<rules>"

    @property
    def live(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.is_live)

    @property
    def scheduled(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if not rule.is_live)

    def by_id(self) -> dict[str, Rule]:
        return {rule.id: rule for rule in self.rules}


def parse_duration_ms(text: str) -> int:
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"not a duration (e.g. 30s, 15m, 1h, 2d): {text!r}")
    return int(match.group("amount")) * _UNIT_MS[match.group("unit")]


def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def _rule_label(document: Any, index: int) -> str:
    rules = document.get("rules") if isinstance(document, dict) else None
    rule = rules[index] if isinstance(rules, list) and index < len(rules) else None
    if isinstance(rule, dict) and isinstance(rule.get("id"), str):
        return f"rule '{rule['id']}' (rules[{index}])"
    return f"rule rules[{index}]"


def _fields_of(error: SchemaError) -> list[str]:
    """The field(s) a schema error is about, including the ones named only in its message."""
    if error.validator == "required":
        found = re.findall(r"'([^']+)' is a required property", error.message)
        if found:
            return found
    if error.validator == "additionalProperties":
        return re.findall(r"'([^']+)'", error.message.split("(", 1)[-1])
    return []


def _describe(document: Any, error: SchemaError) -> str:
    path = list(error.absolute_path)
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        who = _rule_label(document, path[1])
        rest = [str(part) for part in path[2:]]
    else:
        who = "file"
        rest = [str(part) for part in path]
    names = _fields_of(error)
    field_name = ".".join(rest) if rest else (", ".join(names) if names else "<root>")
    if names and rest:
        field_name = f"{field_name}.{', '.join(names)}"
    message = error.message
    if error.validator == "additionalProperties":
        message = "unknown field (see alerts/rules.schema.json for the fields of a rule)"
    if error.validator == "oneOf" and rest and rest[-1] == "coins":
        message = "must be 'all', one coin code (upper case) or a list of codes"
    return f"{who}, field '{field_name}': {message}"


def _schema_problems(document: Any) -> list[str]:
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(map(str, e.path)))
    return [_describe(document, error) for error in errors]


def _semantic_problems(document: dict[str, Any], webhook_names: Iterable[str] | None) -> list[str]:
    problems: list[str] = []
    seen: dict[str, int] = {}
    known_hooks = None if webhook_names is None else set(webhook_names)
    for index, rule in enumerate(document["rules"]):
        who = _rule_label(document, index)
        if rule["id"] in seen:
            problems.append(f"{who}, field 'id': duplicate of rules[{seen[rule['id']]}]")
        seen.setdefault(rule["id"], index)
        allowed = KIND_PARAMETERS[rule["kind"]]
        for name in sorted(ALL_PARAMETERS & set(rule) - allowed):
            problems.append(f"{who}, field '{name}': does not apply to kind {rule['kind']}")
        if rule["kind"] == "ingest_errors" and "coins" in rule:
            problems.append(f"{who}, field 'coins': ingest_errors watches the whole pipeline")
        if known_hooks is not None:
            for name in rule.get("notify", []):
                if name not in known_hooks:
                    problems.append(
                        f"{who}, field 'notify': no webhook named '{name}' in COINS_ALERTS_WEBHOOKS"
                    )
    return problems


def parse_rules(
    document: Any, *, source: str = "<rules>", webhook_names: Iterable[str] | None = None
) -> RuleSet:
    """Validate a parsed rules document and build the rule set; raise RulesError otherwise."""
    problems = _schema_problems(document)
    if problems:
        raise RulesError(source, problems)
    problems = _semantic_problems(document, webhook_names)
    if problems:
        raise RulesError(source, problems)
    defaults = document.get("defaults", {})
    default_cooldown = defaults.get("cooldown")
    default_hysteresis = float(defaults.get("hysteresis_pct", DEFAULT_HYSTERESIS_PCT))
    rules: list[Rule] = []
    for entry in document["rules"]:
        if not entry.get("enabled", True):
            continue
        coins_value = entry.get("coins", "all")
        coins: Coins = (
            "all"
            if coins_value == "all"
            else (coins_value,)
            if isinstance(coins_value, str)
            else tuple(coins_value)
        )
        cooldown = entry.get("cooldown", default_cooldown)
        params = {name: entry[name] for name in KIND_PARAMETERS[entry["kind"]] if name in entry}
        if entry["kind"] == "price_move":
            params.setdefault("direction", "either")
        notify = entry.get("notify")
        rules.append(
            Rule(
                id=entry["id"],
                kind=entry["kind"],
                coins=coins,
                cooldown_ms=parse_duration_ms(cooldown) if cooldown else DEFAULT_COOLDOWN_MS,
                hysteresis_pct=float(entry.get("hysteresis_pct", default_hysteresis)),
                notify=tuple(notify) if notify is not None else None,
                description=entry.get("description", ""),
                params=params,
            )
        )
    return RuleSet(version=int(document["version"]), rules=tuple(rules), source=source)


def load_rules(path: Path, *, webhook_names: Iterable[str] | None = None) -> RuleSet:
    """Read and validate the rules file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RulesError(str(path), [f"cannot read the file: {error.strerror}"]) from error
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RulesError(str(path), [f"not valid YAML: {error}"]) from error
    return parse_rules(document, source=str(path), webhook_names=webhook_names)
