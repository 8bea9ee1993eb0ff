"""Stream budget use over a simulated 24 h: credits spent / credits allotted.

Runs the real stream loop (budget, client, validation, queue, sender) on a virtual clock
against the fake LiveCoinWatch in process, from 00:00 UTC to the next 00:00 UTC, and counts
every call the fake answered that day (``/credits`` refreshes and retries included). The
allotment is the configured share of the key's daily limit read from ``/credits``.

Scenarios: the headline (10 coins, a 10,000-credit key, stream share 100 %), the default
share (90 %), 250 coins (3 calls per cycle), and a flaky API (2 % of calls answer 503).

Usage: .venv/bin/python benchmarks/bench_stream_budget.py
Goal: 95 % <= spent / allotted <= 100 % in every scenario, never above.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from producers.budget import CreditBudget
from producers.clock import DAY_MS
from producers.retry import RetryPolicy
from producers.settings import DEFAULT_COINS
from producers.sources.current import LiveCoinWatchSource
from producers.stream import StreamRunner, StreamTopics
from tests.support.fake_livecoinwatch import BASE_PRICES, FakeLiveCoinWatch
from tests.support.memory_publisher import MemoryPublisher
from tests.support.virtual_clock import VirtualClock

MIDNIGHT = 1_735_689_600_000  # 2025-01-01T00:00:00Z


@dataclass(frozen=True)
class Scenario:
    name: str
    coins: int = 10
    limit: int = 10_000
    share: float = 1.0
    failure_rate: float = 0.0


SCENARIOS = [
    Scenario("10 coins, 10,000 credits, share 100 %"),
    Scenario("10 coins, 10,000 credits, share 90 % (default)", share=0.9),
    Scenario("250 coins, 10,000 credits, share 100 %", coins=250),
    Scenario("10 coins, 10,000 credits, 2 % of calls fail with 503", failure_rate=0.02),
]


class DayClock(VirtualClock):
    """A virtual clock that ends the simulation when it reaches a given time."""

    def stop_at(self, end_ms: int, stop: asyncio.Event) -> None:
        self._end_ms, self._stop = end_ms, stop

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        if self.now_ms() >= self._end_ms:
            self._stop.set()


async def simulate(scenario: Scenario) -> tuple[int, int, int, float]:
    clock = DayClock(MIDNIGHT)
    codes = list(DEFAULT_COINS) + [f"X{i:03d}" for i in range(max(0, scenario.coins - 10))]
    codes = codes[: scenario.coins]
    fake = FakeLiveCoinWatch(
        now_ms=clock.now_ms,
        credits_limit=scenario.limit,
        coin_overrides={c: {} for c in codes if c not in BASE_PRICES},
    )
    fake.flaky_rate = scenario.failure_rate
    budget = CreditBudget(
        clock=clock, share=scenario.share, coins=len(codes), min_interval_seconds=0.0
    )
    client = fake.client(
        retry=RetryPolicy(4, 1.0, 30.0), sleep=clock.sleep, on_call=lambda _e: budget.record_call()
    )
    stop = asyncio.Event()
    publisher = MemoryPublisher()
    async with client:
        runner = StreamRunner(
            source=LiveCoinWatchSource(
                client,
                coins=codes,
                currency="USD",
                clock=clock,
                intended_topic="ticks",
            ),
            publisher=publisher,
            clock=clock,
            topics=StreamTopics("ticks", "dlq"),  # in memory: any names do
            stop=stop,
            budget=budget,
            read_credits=client.credits,
        )

        clock.stop_at(MIDNIGHT + DAY_MS, stop)
        await runner.run()
    spent = sum(1 for c in fake.calls if MIDNIGHT <= c.at_ms < MIDNIGHT + DAY_MS)
    allotted = math.floor(scenario.limit * scenario.share)
    cycles = runner.stats.cycles
    assert len(publisher.records) == cycles * len(codes), "every fetched coin was published"
    return spent, allotted, cycles, 86_400 / max(1, cycles)


def main() -> None:
    # The flaky scenario logs a warning per retry; only the figures belong on the output.
    logging.disable(logging.WARNING)
    worst_low, worst_high = 1.0, 0.0
    for scenario in SCENARIOS:
        spent, allotted, cycles, cadence = asyncio.run(simulate(scenario))
        ratio = spent / allotted
        worst_low, worst_high = min(worst_low, ratio), max(worst_high, ratio)
        print(
            f"{scenario.name}: spent {spent:,} of {allotted:,} allotted = {ratio:.2%} "
            f"({cycles:,} cycles, one every {cadence:.2f} s)"
        )
    verdict = "meets" if worst_low >= 0.95 and worst_high <= 1.0 else "misses"
    print(
        f"stream budget use over 24 h: {worst_low:.2%} .. {worst_high:.2%} of the allotment "
        f"(goal 95 %..100 %, never above; {verdict})"
    )


if __name__ == "__main__":
    main()
