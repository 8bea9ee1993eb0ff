"""Backfill runner against the fake API with an in-memory publisher: credits, closes, resume."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from producers.backfill import BackfillRunner, BackfillTopics, make_plan
from producers.clock import HOUR_MS, noon_ms
from producers.kafka.publisher import PublishTimeoutError, Record
from producers.planner import SpanLearner
from producers.progress import CoinProgress, derive_progress
from producers.retry import Deadline, RetryPolicy
from producers.sources.history import DemoHistory, LiveCoinWatchHistory
from tests.support.contract_schema import assert_matches_contract
from tests.support.fake_livecoinwatch import (
    FakeLiveCoinWatch,
    benchmark_granularity,
    hourly_granularity,
)
from tests.support.memory_publisher import MemoryPublisher, UnreachableBroker
from tests.support.producers_kafka import assert_every_close_once, daily_closes
from tests.support.virtual_clock import VirtualClock

TOPICS = BackfillTopics(history="hist", progress="progress", dead_letter="dlq")
NOW = noon_ms(dt.date(2026, 1, 1)) + 6 * HOUR_MS


class CrashingPublisher(MemoryPublisher):
    """Acknowledges ``allowed`` batches, then dies as a killed process would."""

    def __init__(self, allowed: int) -> None:
        super().__init__()
        self.allowed = allowed

    async def publish(self, records: Sequence[Record], *, deadline: Deadline | None = None) -> None:
        if self.allowed <= 0:
            raise RuntimeError("killed")
        self.allowed -= 1
        await super().publish(records)


def progress_from(publisher: MemoryPublisher, coins: Sequence[str]) -> dict[str, CoinProgress]:
    progress = [(r.key, r.value) for r in publisher.records if r.topic == TOPICS.progress]
    history = [r.value for r in publisher.records if r.topic == TOPICS.history]
    return derive_progress(progress, history[-1:], coins=coins, currency="USD")


def history_runner(
    client: Any,
    publisher: MemoryPublisher,
    clock: VirtualClock,
    learner: SpanLearner,
    progress: dict[str, CoinProgress],
    **options: Any,
) -> BackfillRunner:
    """A BackfillRunner on ``client``'s history in USD; ``options`` as BackfillRunner's."""
    return BackfillRunner(
        source=LiveCoinWatchHistory(client),
        publisher=publisher,
        clock=clock,
        topics=TOPICS,
        currency="USD",
        learner=learner,
        progress=progress,
        **{"stop": asyncio.Event(), **options},
    )


async def run(
    fake: FakeLiveCoinWatch,
    publisher: MemoryPublisher,
    *,
    coins: Sequence[str],
    since: dt.date,
    until: dt.date,
    progress: dict[str, CoinProgress] | None = None,
    learner: SpanLearner | None = None,
    cap: int | None = None,
    attempts: int = 3,
) -> tuple[int, list[tuple[int, int]]]:
    clock = VirtualClock(NOW)
    client = fake.client(retry=RetryPolicy(attempts, 0.0, 0.0), sleep=clock.sleep)
    learner = learner or SpanLearner(30, 365)
    progress = progress or {code: CoinProgress(None) for code in coins}
    plan = make_plan(coins=coins, since=since, until=until, progress=progress, learner=learner)
    runner = history_runner(
        client,
        publisher,
        clock,
        learner,
        progress,
        credit_cap=cap,
        calls_made=lambda: len(fake.calls),
        attempts_per_call=attempts,
    )
    async with client:
        await runner.run(plan)
    ranges = [(c.body["start"], c.body["end"]) for c in fake.calls_to("/coins/single/history")]
    return plan.expected_calls, ranges


def closes(publisher: MemoryPublisher) -> Counter[tuple[str, int]]:
    return daily_closes(json.loads(r.value) for r in publisher.records if r.topic == TOPICS.history)


async def rerun(
    fake: FakeLiveCoinWatch, crashed: MemoryPublisher, *, coins: Sequence[str], **options: Any
) -> MemoryPublisher:
    """Run again on the topics as the crashed run left them (what it had acknowledged) and the
    progress they give; ``options`` as ``run``'s. Returns the rerun's publisher."""
    resumed = MemoryPublisher()
    resumed.records = list(crashed.records)
    await run(fake, resumed, coins=coins, progress=progress_from(crashed, coins), **options)
    return resumed


async def test_two_years_of_ten_coins_cost_a_few_credits_per_coin() -> None:
    fake = FakeLiveCoinWatch(granularity=benchmark_granularity)
    publisher = MemoryPublisher()
    coins = ["BTC", "ETH", "USDT", "FDUSD", "XRP", "SOL", "USDC", "DOGE", "LINK", "AAVE"]
    since, until = dt.date(2024, 1, 1), dt.date(2025, 12, 31)
    await run(fake, publisher, coins=coins, since=since, until=until)
    assert fake.credits_used <= 7_300 // 30
    assert_every_close_once(closes(publisher), coins, since, until)


async def test_keys_values_and_order_of_history_messages() -> None:
    fake = FakeLiveCoinWatch(granularity=hourly_granularity)
    publisher = MemoryPublisher()
    await run(fake, publisher, coins=["BTC"], since=dt.date(2024, 1, 1), until=dt.date(2024, 1, 3))
    history = [r for r in publisher.records if r.topic == TOPICS.history]
    assert {r.key for r in history} == {b"BTC"}
    values = [json.loads(r.value) for r in history]
    assert_matches_contract("coins_historical", values)
    stamps = [v["timestamp_ms"] for v in values]
    assert stamps == sorted(set(stamps)), "one message per point, in time order"
    assert stamps[0] == noon_ms(dt.date(2023, 12, 31)) + HOUR_MS
    assert stamps[-1] == noon_ms(dt.date(2024, 1, 3))
    assert all(v["rate"] == FakeLiveCoinWatch.price("BTC", v["timestamp_ms"]) for v in values)
    # Progress is recorded after the data it describes.
    kinds = [r.topic for r in publisher.records]
    assert kinds[-1] == TOPICS.progress
    assert kinds.index(TOPICS.history) > 0


@pytest.mark.parametrize("allowed_batches", [1, 2, 3, 4, 6, 9, 12])
async def test_a_crash_then_rerun_gives_every_close_once_and_no_range_twice(
    allowed_batches: int,
) -> None:
    fake = FakeLiveCoinWatch(granularity=hourly_granularity)
    coins = ["BTC", "ETH", "SOL"]
    since, until = dt.date(2024, 1, 1), dt.date(2024, 12, 31)
    learner = SpanLearner(60, 60)
    crashing = CrashingPublisher(allowed_batches)
    with pytest.raises(RuntimeError, match="killed"):
        await run(fake, crashing, coins=coins, since=since, until=until, learner=learner)
    first_ranges = [
        (c.body["code"], c.body["start"], c.body["end"])
        for c in fake.calls_to("/coins/single/history")
    ]
    # The range in flight when the process died was not acknowledged: it is the only one
    # a rerun may fetch again.
    acknowledged = first_ranges[:-1]
    fake.calls.clear()
    resumed = await rerun(
        fake, crashing, coins=coins, since=since, until=until, learner=SpanLearner(60, 60)
    )
    second_ranges = [
        (c.body["code"], c.body["start"], c.body["end"])
        for c in fake.calls_to("/coins/single/history")
    ]
    assert not set(acknowledged) & set(second_ranges)
    assert_every_close_once(closes(resumed), coins, since, until)


async def test_crash_between_data_ack_and_progress_ack_resumes_from_the_history_tail() -> None:
    fake = FakeLiveCoinWatch(granularity=hourly_granularity)
    coins = ["BTC"]
    since, until = dt.date(2024, 1, 1), dt.date(2024, 6, 30)
    # batches: pin, data 1, progress 1, data 2, [progress 2 lost]
    crashing = CrashingPublisher(4)
    with pytest.raises(RuntimeError):
        await run(
            fake, crashing, coins=coins, since=since, until=until, learner=SpanLearner(30, 30)
        )
    fetched_first = len(fake.calls_to("/coins/single/history"))
    fake.calls.clear()
    progress = progress_from(crashing, coins)
    assert progress["BTC"].coverage is not None
    assert progress["BTC"].coverage.last_day == dt.date(2024, 2, 29)
    resumed = await rerun(
        fake, crashing, coins=coins, since=since, until=until, learner=SpanLearner(30, 30)
    )
    assert fetched_first == 2
    assert fake.calls_to("/coins/single/history")[0].body["start"] == noon_ms(dt.date(2024, 2, 29))
    assert_every_close_once(closes(resumed), coins, since, until)


async def test_an_earlier_since_fetches_backwards_without_touching_covered_days() -> None:
    fake = FakeLiveCoinWatch(granularity=hourly_granularity)
    coins = ["ETH"]
    publisher = MemoryPublisher()
    await run(fake, publisher, coins=coins, since=dt.date(2024, 6, 1), until=dt.date(2024, 6, 30))
    fake.calls.clear()
    await run(
        fake,
        publisher,
        coins=coins,
        since=dt.date(2024, 1, 1),
        until=dt.date(2024, 7, 10),
        progress=progress_from(publisher, coins),
    )
    for call in fake.calls_to("/coins/single/history"):
        start, end = call.body["start"], call.body["end"]
        assert end <= noon_ms(dt.date(2024, 5, 31)) or start >= noon_ms(dt.date(2024, 6, 30))
    assert_every_close_once(closes(publisher), coins, dt.date(2024, 1, 1), dt.date(2024, 7, 10))


async def test_days_before_listing_are_reported_not_retried_forever() -> None:
    fake = FakeLiveCoinWatch(
        granularity=hourly_granularity,
        listed_from_ms={"SOL": noon_ms(dt.date(2024, 1, 20)) + HOUR_MS},
    )
    publisher = MemoryPublisher()
    await run(fake, publisher, coins=["SOL"], since=dt.date(2024, 1, 1), until=dt.date(2024, 2, 29))
    found = closes(publisher)
    assert min(t for _c, t in found) == noon_ms(dt.date(2024, 1, 21))
    assert len(fake.calls) <= 3


async def test_the_credit_cap_stops_the_run_with_progress_kept() -> None:
    fake = FakeLiveCoinWatch(granularity=hourly_granularity)
    publisher = MemoryPublisher()
    await run(
        fake,
        publisher,
        coins=["BTC", "ETH"],
        since=dt.date(2024, 1, 1),
        until=dt.date(2024, 12, 31),
        learner=SpanLearner(30, 30),
        cap=5,
        attempts=1,
    )
    assert len(fake.calls) == 5
    progress = progress_from(publisher, ["BTC", "ETH"])
    coverage = progress["BTC"].coverage
    assert coverage is not None
    assert coverage.last_day == dt.date(2024, 1, 1) + dt.timedelta(149)


async def test_the_credit_cap_holds_even_when_the_last_call_needs_every_retry() -> None:
    fake = FakeLiveCoinWatch(granularity=hourly_granularity)

    def fifth_call_fails_twice(endpoint: str, body: Any) -> httpx.Response | None:
        if endpoint == "/coins/single/history" and len(fake.calls) in (4, 5):
            return fake.error_response(503, "fault 503")
        return None

    fake.on_request = fifth_call_fails_twice
    publisher = MemoryPublisher()
    await run(
        fake,
        publisher,
        coins=["BTC"],
        since=dt.date(2024, 1, 1),
        until=dt.date(2024, 12, 31),
        learner=SpanLearner(30, 30),
        cap=6,
        attempts=3,
    )
    assert len(fake.calls) <= 6, "a call is only started if all its attempts fit in the cap"
    assert all(c.status == 200 for c in fake.calls[:4])


async def test_invalid_points_go_to_the_dead_letter_topic() -> None:
    fake = FakeLiveCoinWatch(granularity=hourly_granularity)
    fake.history_point_overrides[("BTC", noon_ms(dt.date(2024, 1, 1)) + HOUR_MS)] = {"rate": "oops"}
    publisher = MemoryPublisher()
    await run(fake, publisher, coins=["BTC"], since=dt.date(2024, 1, 1), until=dt.date(2024, 1, 2))
    dead = [json.loads(r.value) for r in publisher.records if r.topic == TOPICS.dead_letter]
    assert len(dead) == 1
    assert dead[0]["intended_topic"] == "hist"
    assert dead[0]["error"].startswith("rate:")


async def test_demo_history_is_reproducible_daily_closes() -> None:
    source = DemoHistory()
    start, end = noon_ms(dt.date(2023, 12, 31)), noon_ms(dt.date(2024, 1, 31))
    first = await source.history("BTC", "USD", start, end)
    again = await source.history("BTC", "USD", start, end)
    assert first == again
    assert [p["date"] for p in first] == [
        noon_ms(dt.date(2023, 12, 31) + dt.timedelta(i)) for i in range(32)
    ]
    assert all(30_000 < p["rate"] < 300_000 for p in first)


async def test_stop_while_kafka_is_down_gives_up_without_recording_progress() -> None:
    fake = FakeLiveCoinWatch(granularity=hourly_granularity)
    stop = asyncio.Event()
    publisher = UnreachableBroker(let_through=1)  # the pin record goes through
    clock = VirtualClock(NOW)
    learner = SpanLearner(30, 30)
    progress = {"BTC": CoinProgress(None)}
    plan = make_plan(
        coins=["BTC"],
        since=dt.date(2024, 1, 1),
        until=dt.date(2024, 3, 1),
        progress=progress,
        learner=learner,
    )
    client = fake.client(retry=RetryPolicy(3, 0.0, 0.0), sleep=clock.sleep)
    runner = history_runner(
        client, publisher, clock, learner, progress, stop=stop, shutdown_timeout_seconds=0.0
    )
    async with client:
        running = asyncio.ensure_future(runner.run(plan))
        await asyncio.wait_for(publisher.refusing.wait(), 5)
        stop.set()  # SIGTERM arrives while the first range is being published
        with pytest.raises(PublishTimeoutError):
            await asyncio.wait_for(running, 5)
    pinned = progress_from(publisher, ["BTC"])["BTC"].coverage
    assert pinned is not None
    assert pinned.empty, "no progress beyond the pin was recorded"
