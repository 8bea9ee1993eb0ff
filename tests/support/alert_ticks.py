"""Tick series and a rules file for the alert tests: prices that cross levels again and again."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from alerts.live import LiveEvaluator, Tick
from alerts.models import alert_id
from alerts.rules import RuleSet, parse_rules

BASES = {"BTC": 95_000.0, "ETH": 3_300.0, "DOGE": 0.32}
STEP_MS = 5_000


@dataclass(frozen=True)
class SentTick:
    tick: Tick
    duplicate: bool = False  # a resend or a late tick: must not change anything


def tick_series(count: int, end_ms: int, seed: int = 7) -> list[Tick]:
    """``count`` cycles of every coin, 5 s apart, ending at ``end_ms``; each price swings
    +-3 % with noise, so the test levels are crossed many times."""
    rng = random.Random(seed)
    start = end_ms - count * STEP_MS
    ticks = []
    for index in range(count):
        for number, (coin, base) in enumerate(BASES.items()):
            swing = 0.03 * math.sin(index / 9 + number)
            noise = rng.gauss(0, 0.002)
            ticks.append(
                Tick(coin, start + index * STEP_MS, base * (1 + swing) * (1 + noise), "USD", "demo")
            )
    return ticks


def with_bad_ticks(ticks: list[Tick], seed: int = 11) -> list[SentTick]:
    """The series with exact duplicates and late ticks (older event time, extreme prices that
    would fire every rule if they were evaluated) mixed in."""
    rng = random.Random(seed)
    sent: list[SentTick] = []
    for position, tick in enumerate(ticks):
        sent.append(SentTick(tick))
        if position > 10 and rng.random() < 0.15:
            sent.append(SentTick(tick, duplicate=True))
        if position > 10 and rng.random() < 0.1:
            late = ticks[position - rng.randint(3, 9)]
            if late.coin == tick.coin:
                extreme = late.rate * rng.choice((0.5, 2.0))
                sent.append(SentTick(Tick(late.coin, late.ts, extreme, "USD", "demo"), True))
    return sent


def tick_value(tick: Tick) -> bytes:
    return json.dumps(
        {
            "schema_version": 1,
            "source": tick.source,
            "code": tick.coin,
            "currency": tick.currency,
            "timestamp_ms": tick.ts,
            "rate": tick.rate,
        }
    ).encode()


def rules_document(version: int = 1) -> dict[str, Any]:
    return {
        "version": version,
        "defaults": {"hysteresis_pct": 0.5},
        "rules": [
            {"id": "above", "kind": "price_above", "coins": "all", "level": 0.0},
            {"id": "below", "kind": "price_below", "coins": "all", "level": 0.0},
            {
                "id": "move",
                "kind": "price_move",
                "coins": "all",
                "move_pct": 2,
                "window": "10m",
                "cooldown": "5m",
            },
        ],
    }


def per_coin_rules(document: dict[str, Any]) -> dict[str, Any]:
    """Price levels need one rule per coin (bases differ); expand the two level rules."""
    expanded = []
    for rule in document["rules"]:
        if rule["kind"] in ("price_above", "price_below") and rule["level"] == 0.0:
            factor = 1.02 if rule["kind"] == "price_above" else 0.98
            for coin, base in BASES.items():
                expanded.append(
                    {
                        **rule,
                        "id": f"{rule['id']}-{coin.lower()}",
                        "coins": coin,
                        "level": round(base * factor, 6),
                    }
                )
        else:
            expanded.append(rule)
    return {**document, "rules": expanded}


def write_rules(path: Path, document: dict[str, Any]) -> RuleSet:
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return parse_rules(document, source=str(path))


def expected_alert_ids(rules: RuleSet, ticks: list[Tick]) -> list[str]:
    """What one uninterrupted run over the clean series fires, in order."""
    evaluator = LiveEvaluator(rules.live, list(BASES))
    found = []
    for tick in ticks:
        for fired in evaluator.evaluate(tick):
            found.append(
                alert_id(fired.rule.id, fired.rule.condition_hash, fired.coin, fired.event_ms)
            )
    return found
