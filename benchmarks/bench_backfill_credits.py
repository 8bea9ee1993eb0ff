"""Backfill credits: 10 coins, 2024-01-01..2025-12-31, versus one call per coin-day (7,300).

Runs the real backfill (planner, client, validation, progress) against the fake LiveCoinWatch
in process, with the benchmark's documented granularity rule: a range of at most 1 day
answers 5-minute points, up to 90 days hourly points, longer ranges daily points at 00:00 UTC
(so long ranges carry no 12:00 UTC close and must be discovered and avoided). Counts every
HTTP call the fake answered (retries and discarded ranges included) and checks that every
day of every coin has exactly one point at exactly 12:00 UTC.

Usage: .venv/bin/python benchmarks/bench_backfill_credits.py
Goal: credits <= 7,300 / 30 (= 243), every daily close exactly at 12:00 UTC.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from producers.backfill import BackfillRunner, BackfillTopics, make_plan
from producers.clock import DAY_MS, HOUR_MS, VirtualClock, noon_ms
from producers.history_sources import LiveCoinWatchHistory
from producers.planner import SpanLearner
from producers.progress import CoinProgress
from producers.publisher import MemoryPublisher
from producers.retry import RetryPolicy
from producers.settings import DEFAULT_COINS, Settings
from tests.support.fake_livecoinwatch import FakeLiveCoinWatch, benchmark_granularity

SINCE, UNTIL = dt.date(2024, 1, 1), dt.date(2025, 12, 31)
GOAL_DIVISOR = 30


async def run() -> tuple[int, int, Counter[tuple[str, int]], float, int]:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    clock = VirtualClock(noon_ms(dt.date(2026, 1, 1)))
    fake = FakeLiveCoinWatch(granularity=benchmark_granularity, now_ms=clock.now_ms)
    publisher = MemoryPublisher()
    learner = SpanLearner(defaults.backfill_initial_span_days, defaults.backfill_max_span_days)
    progress = {code: CoinProgress(None) for code in DEFAULT_COINS}
    plan = make_plan(
        coins=DEFAULT_COINS, since=SINCE, until=UNTIL, progress=progress, learner=learner
    )
    topics = BackfillTopics(history="coins_historical", progress="progress", dead_letter="dlq")
    client = fake.client(retry=RetryPolicy(3, 0.0, 0.0), sleep=clock.sleep)
    started = time.perf_counter()
    async with client:
        runner = BackfillRunner(
            source=LiveCoinWatchHistory(client),
            publisher=publisher,
            clock=clock,
            topics=topics,
            currency="USD",
            learner=learner,
            progress=progress,
            stop=asyncio.Event(),
        )
        report = await runner.run(plan)
    elapsed = time.perf_counter() - started
    closes: Counter[tuple[str, int]] = Counter()
    points = 0
    for record in publisher.records:
        if record.topic != topics.history:
            continue
        points += 1
        value = json.loads(record.value)
        if value["timestamp_ms"] % DAY_MS == 12 * HOUR_MS:
            closes[(value["code"], value["timestamp_ms"])] += 1
    print(
        f"plan: {plan.pending_days} coin-days, expected ~{plan.expected_calls} credits; "
        f"ranges accepted {report.ranges_accepted}, discarded as too coarse "
        f"{report.ranges_too_coarse}, learned span {learner.next_span()} days"
    )
    return fake.credits_used, plan.pending_days, closes, elapsed, points


def main() -> None:
    credits, coin_days, closes, elapsed, points = asyncio.run(run())
    days = (UNTIL - SINCE).days + 1
    expected = {
        (c, noon_ms(SINCE + dt.timedelta(days=i))) for c in DEFAULT_COINS for i in range(days)
    }
    exact = set(closes) == expected and set(closes.values()) == {1}
    baseline = coin_days  # the original: one call per coin and day, start = end = 12:00 UTC
    goal = baseline / GOAL_DIVISOR
    print(f"history points published: {points:,} ({elapsed:.1f} s wall time)")
    print(
        f"daily closes at exactly 12:00 UTC: {len(closes):,} of {len(expected):,} coin-days, "
        f"each once: {exact}"
    )
    print(f"baseline (one call per coin-day, the original): {baseline:,} credits")
    verdict = "meets" if credits <= goal and exact else "misses"
    print(
        f"backfill credits: {credits} = 1/{baseline / credits:.0f} of {baseline:,} "
        f"(goal <= 1/{GOAL_DIVISOR} = {goal:.0f}, every close at 12:00 UTC: {exact}; {verdict})"
    )


if __name__ == "__main__":
    main()
