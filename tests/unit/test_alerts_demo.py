"""Out of the box: the shipped rules fire on the demo source within minutes."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.live import LiveEvaluator, Tick
from alerts.rules import load_rules
from producers.settings import DEFAULT_COINS
from producers.sources.demo import DemoSource
from tests.support.virtual_clock import VirtualClock

RULES = Path(__file__).resolve().parents[2] / "alerts" / "rules.yaml"


@pytest.mark.parametrize("seed", range(4))
async def test_shipped_rules_fire_on_the_demo_stream_within_half_an_hour(seed: int) -> None:
    rules = load_rules(RULES)
    clock = VirtualClock(1_767_225_600_000)
    source = DemoSource(coins=DEFAULT_COINS, currency="USD", clock=clock, seed=seed)
    evaluator = LiveEvaluator(rules.live, DEFAULT_COINS)
    fired = set()
    for _cycle in range(360):  # 30 minutes at the demo's 5 s cadence
        clock.advance(5)
        for message in (await source.fetch()).messages:
            tick = Tick(message.code, message.timestamp_ms, message.rate, "USD", message.source)
            fired |= {(f.rule.id, f.source) for f in evaluator.evaluate(tick)}
    assert fired, "no shipped rule fired on 30 minutes of demo ticks"
    assert {source for _rule, source in fired} == {"demo"}, "demo alerts say they are demo"
