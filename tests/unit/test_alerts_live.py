"""Live rules by hand-made tick sequences: edges, hysteresis, cooldown, windows, event time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alerts.live import LiveEvaluator, Tick
from alerts.rules import parse_rules

MIN = 60_000


def _evaluator(*rules: dict[str, Any], coins: tuple[str, ...] = ("BTC",)) -> LiveEvaluator:
    return LiveEvaluator(parse_rules({"version": 1, "rules": list(rules)}).rules, coins)


def _run(evaluator: LiveEvaluator, prices: Sequence[float], step_ms: int = MIN) -> list[int]:
    """The indexes of the ticks that fired."""
    fired = []
    for index, price in enumerate(prices):
        if evaluator.evaluate(Tick("BTC", index * step_ms, price)):
            fired.append(index)
    return fired


def test_price_above_fires_on_the_edge_only_and_rearms_past_the_hysteresis() -> None:
    rule = {"id": "a", "kind": "price_above", "level": 100, "hysteresis_pct": 1}
    # 101 fires; 99.5 is inside the hysteresis band (not re-armed), so 102 does not fire;
    # 98.9 re-arms, 100 fires again.
    prices = [90, 101, 105, 99.5, 102, 98.9, 100]
    assert _run(_evaluator(rule), prices) == [1, 6]


def test_price_below_mirrors_above() -> None:
    rule = {"id": "b", "kind": "price_below", "level": 100, "hysteresis_pct": 1}
    assert _run(_evaluator(rule), [110, 99, 95, 100.5, 98, 101.1, 100]) == [1, 6]


def test_a_condition_already_true_at_start_fires_once() -> None:
    rule = {"id": "a", "kind": "price_above", "level": 100}
    assert _run(_evaluator(rule), [150, 151, 152]) == [0]


def test_cooldown_swallows_a_second_edge_within_it() -> None:
    rule = {"id": "a", "kind": "price_above", "level": 100, "cooldown": "10m"}
    # edges at minutes 1, 3 (inside the cooldown: silent) and 13 (after it)
    prices = [90, 101, 90, 101, 90, 90, 90, 90, 90, 90, 90, 90, 90, 101]
    assert _run(_evaluator(rule), prices) == [1, 13]


def test_move_within_a_window_in_event_time() -> None:
    rule = {"id": "m", "kind": "price_move", "move_pct": 5, "window": "10m", "direction": "up"}
    # +5 % over 4 minutes fires; a +5 % spread over 20 minutes never does.
    assert _run(_evaluator(rule), [100, 101, 103, 105]) == [3]
    slow = [100 + i * 0.25 for i in range(21)]
    assert _run(_evaluator(rule), slow) == []


def test_move_either_direction_reports_the_signed_move() -> None:
    rule = {"id": "m", "kind": "price_move", "move_pct": 3, "window": "5m"}
    evaluator = _evaluator(rule)
    fired = []
    for index, price in enumerate([100, 99, 96.5]):
        fired += evaluator.evaluate(Tick("BTC", index * MIN, price))
    assert len(fired) == 1
    assert fired[0].values["move_pct"] < -3
    assert fired[0].values["reference_rate"] == 100


def test_duplicates_and_late_ticks_are_ignored() -> None:
    evaluator = _evaluator({"id": "a", "kind": "price_above", "level": 100})
    assert evaluator.evaluate(Tick("BTC", 2 * MIN, 90)) == []
    assert evaluator.evaluate(Tick("BTC", 2 * MIN, 500)) == []  # same event time
    assert evaluator.evaluate(Tick("BTC", 1 * MIN, 500)) == []  # older event time
    assert evaluator.duplicates == 2
    assert len(evaluator.evaluate(Tick("BTC", 3 * MIN, 101))) == 1


def test_warm_ticks_build_windows_without_firing() -> None:
    rule = {"id": "m", "kind": "price_move", "move_pct": 5, "window": "10m", "direction": "up"}
    evaluator = _evaluator(rule)
    evaluator.warm(Tick("BTC", 0, 100))
    evaluator.warm(Tick("BTC", MIN, 104))
    # the warm ticks count for the window: 100 -> 106 within 2 minutes
    assert len(evaluator.evaluate(Tick("BTC", 2 * MIN, 106))) == 1


def test_many_rules_are_found_by_threshold_not_by_scanning() -> None:
    rules = [{"id": f"r{i}", "kind": "price_above", "level": 100 + i} for i in range(1000)]
    evaluator = _evaluator(*rules)
    evaluator.evaluate(Tick("BTC", 0, 50))
    fired = evaluator.evaluate(Tick("BTC", MIN, 110.5))
    assert sorted(f.rule.id for f in fired) == sorted(f"r{i}" for i in range(11))
    fired = evaluator.evaluate(Tick("BTC", 2 * MIN, 120.5))
    assert sorted(f.rule.id for f in fired) == sorted(f"r{i}" for i in range(11, 21))
