"""Backfill credits and robustness: 10 coins, 2024-01-01..2025-12-31 (7,310 coin-days).

Runs the real ``coins backfill`` logic (client with its retry policy and pacing, planner,
estimate, validation, progress records) in process against the fake LiveCoinWatch, whose
history granularity rule here is: a range of at most 1 day answers 5-minute points, up to 90
days hourly points, longer ranges daily points at 00:00 UTC (so long ranges carry no 12:00
UTC close and must be discovered and avoided). Time is virtual (retries and pacing cost no
wall time); every HTTP attempt the fake answered counts as a credit.

Three figures, each against a baseline measured in the same run:
1. the minimum for the granularity the API answers: the fewest ranges that still keep every
   12:00 UTC point (the longest such range, found from the fake's own rule), plus /credits;
2. the fault-free run: credits vs that minimum (goal <= 1.1x), and its estimate vs its spend;
3. runs where 20 % of the answers are faulty (500, 503, timeout, malformed 200 body, an
   invalid history item; seeded): one run must finish the job (nothing pending, every close
   once), credits vs the fault-free run (goal <= 1.3x), estimate vs spend.

Usage: .venv/bin/python benchmarks/bench_backfill_credits.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr

from producers.backfill import (
    BackfillRunner,
    BackfillTopics,
    make_plan,
    pending_after,
    run_with_estimate,
)
from producers.budget import CallPacer
from producers.cli import make_client
from producers.clock import DAY_MS, HOUR_MS, noon_ms
from producers.logs import LogSettings, configure_logging
from producers.planner import SpanLearner
from producers.progress import CoinProgress
from producers.settings import DEFAULT_COINS, Settings
from producers.sources.history import LiveCoinWatchHistory
from tests.support.fake_livecoinwatch import (
    FakeLiveCoinWatch,
    benchmark_granularity,
)
from tests.support.memory_publisher import MemoryPublisher
from tests.support.producers_kafka import daily_closes, every_close
from tests.support.virtual_clock import VirtualClock

SINCE, UNTIL = dt.date(2024, 1, 1), dt.date(2025, 12, 31)
FAULT_RATE = 0.2
FAULT_KINDS = (500, 503, "timeout", "malformed", "invalid_item")
FAULT_SEEDS = (1, 2, 3, 4, 5)
FAULT_FREE_GOAL = 1.1
FAULTY_GOAL = 1.3
# In-memory topics: any names do (the shipped ones are settings, producers/settings.py).
TOPICS = BackfillTopics(history="history", progress="progress", dead_letter="dlq")


@dataclass
class Outcome:
    credits: int
    estimate: int
    pending: int
    closes_exact: bool
    dead_letters: int
    failed_answers: int


def longest_range_keeping_every_close(max_days: int) -> int:
    """From the fake's rule itself: the longest range whose grid still holds 12:00 UTC."""
    best = 1
    for days in range(1, max_days + 1):
        step, offset = benchmark_granularity(days * DAY_MS)
        if step <= DAY_MS and (12 * HOUR_MS - offset) % step == 0:
            best = days
    return best


async def backfill_once(fake: FakeLiveCoinWatch, clock: VirtualClock) -> Outcome:
    settings = Settings(_env_file=None, lcw_api_key=SecretStr(fake.api_key))  # type: ignore[call-arg]
    publisher = MemoryPublisher()
    learner = SpanLearner(settings.backfill_initial_span_days, settings.backfill_max_span_days)
    progress = {code: CoinProgress(None) for code in DEFAULT_COINS}
    plan = make_plan(
        coins=DEFAULT_COINS, since=SINCE, until=UNTIL, progress=progress, learner=learner
    )
    calls = [0]
    client = make_client(
        settings,
        SecretStr(fake.api_key),
        counter=calls,
        transport=fake.transport(),
        clock=clock,
        pacer=CallPacer(clock, settings.backfill_calls_per_second),
    )
    estimates: list[str] = []
    async with client:
        credits = await client.credits()
        runner = BackfillRunner(
            source=LiveCoinWatchHistory(client),
            publisher=publisher,
            clock=clock,
            topics=TOPICS,
            currency="USD",
            learner=learner,
            progress=progress,
            stop=asyncio.Event(),
            credit_cap=calls[0] + credits.remaining,
            calls_made=lambda: calls[0],
            attempts_per_call=settings.retry_attempts,
        )
        plan, estimate, report = await run_with_estimate(
            runner,
            learner,
            plan,
            allowance=credits.remaining,
            partial=False,
            calls_made=lambda: calls[0],
            say=estimates.append,
            refuse=estimates.append,
        )
    assert estimate is not None
    assert report is not None
    history = [r.value for r in publisher.records if r.topic == TOPICS.history]
    closes = daily_closes(json.loads(value) for value in history)
    expected = every_close(DEFAULT_COINS, SINCE, UNTIL)
    return Outcome(
        credits=fake.credits_used,
        estimate=estimate.calls,
        pending=sum(pending_after(plan, runner).values()),
        closes_exact=set(closes) == expected and set(closes.values()) == {1},
        dead_letters=report.dead_letters,
        failed_answers=sum(fake.faults_served.values()),
    )


def start_clock() -> VirtualClock:
    return VirtualClock(noon_ms(dt.date(2026, 1, 1)))


def main() -> None:
    # The retries and pending days of the faulty runs would log hundreds of warnings.
    configure_logging(LogSettings(log_level="ERROR"))
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    coin_days = len(DEFAULT_COINS) * ((UNTIL - SINCE).days + 1)
    span = longest_range_keeping_every_close(defaults.backfill_max_span_days)
    per_coin = math.ceil(((UNTIL - SINCE).days + 1) / span)
    minimum = len(DEFAULT_COINS) * per_coin + 1  # + the one /credits look
    print(
        f"job: {len(DEFAULT_COINS)} coins x {(UNTIL - SINCE).days + 1} days = {coin_days:,} "
        f"coin-days; one call per coin-day (the original) would cost {coin_days:,} credits"
    )
    print(
        f"minimum for the API's granularity: ranges of {span} days keep every 12:00 UTC "
        f"point: {per_coin} per coin + 1 /credits = {minimum} credits"
    )
    clock = start_clock()
    clean = asyncio.run(backfill_once(FakeLiveCoinWatch(now_ms=clock.now_ms), clock))
    clean_ratio = clean.credits / minimum
    print(
        f"fault-free run: {clean.credits} credits = {clean_ratio:.3f}x the minimum "
        f"(goal <= {FAULT_FREE_GOAL}x); estimate ~{clean.estimate} vs {clean.credits} spent "
        f"({clean.credits / clean.estimate:.3f}x); pending after the run: {clean.pending}; "
        f"every close once: {clean.closes_exact}"
    )
    worst = 0.0
    one_run_each = True
    for seed in FAULT_SEEDS:
        clock = start_clock()
        fake = FakeLiveCoinWatch(
            now_ms=clock.now_ms,
            flaky_rate=FAULT_RATE,
            flaky_kinds=FAULT_KINDS,
            flaky_seed=seed,
        )
        faulty = asyncio.run(backfill_once(fake, clock))
        ratio = faulty.credits / clean.credits
        worst = max(worst, ratio)
        finished = faulty.pending == 0 and faulty.closes_exact
        one_run_each = one_run_each and finished
        print(
            f"faulty run, seed {seed} ({faulty.failed_answers} of {faulty.credits} answers "
            f"faulty): {faulty.credits} credits = {ratio:.3f}x the fault-free run "
            f"(goal <= {FAULTY_GOAL}x); estimate ~{faulty.estimate} vs {faulty.credits} spent "
            f"({faulty.credits / faulty.estimate:.3f}x); dead letters {faulty.dead_letters}; "
            f"finished in one run (nothing pending, every close once): {finished}"
        )
    meets = one_run_each and worst <= FAULTY_GOAL and clean_ratio <= FAULT_FREE_GOAL
    print(
        f"backfill with {FAULT_RATE:.0%} faulty answers: worst {worst:.3f}x the fault-free "
        f"credits (goal <= {FAULTY_GOAL}x), every run finished in one: {one_run_each}; "
        f"fault-free {clean_ratio:.3f}x the minimum (goal <= {FAULT_FREE_GOAL}x): "
        f"{'meets' if meets else 'misses'}"
    )


if __name__ == "__main__":
    main()
