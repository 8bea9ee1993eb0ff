"""The stream loop on a virtual clock: messages, dead letters, budget pauses, demo source."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from producers.budget import CreditBudget
from producers.clock import DAY_MS, HOUR_MS
from producers.errors import AuthenticationError, RequestRejectedError
from producers.kafka.publisher import PublishTimeoutError, Record
from producers.retry import Deadline, RetryPolicy
from producers.sources.current import LiveCoinWatchSource
from producers.sources.demo import DemoSource
from producers.stream import StreamRunner, StreamStats, StreamTopics
from tests.support.contract_schema import assert_matches_contract
from tests.support.fake_livecoinwatch import MISSING, FakeLiveCoinWatch
from tests.support.memory_publisher import MemoryPublisher, UnreachableBroker
from tests.support.virtual_clock import VirtualClock
from tests.support.waiting import eventually_async

TOPICS = StreamTopics(current="current", dead_letter="dlq")
COINS = ["BTC", "ETH", "SOL"]
START = 1_735_689_600_000 + 6 * HOUR_MS  # 2025-01-01T06:00Z


async def run_stream(
    fake: FakeLiveCoinWatch,
    clock: VirtualClock,
    *,
    cycles: int,
    publisher: MemoryPublisher | None = None,
    coins: Sequence[str] = COINS,
    share: float = 1.0,
    api_key: str | None = None,
) -> tuple[StreamStats, MemoryPublisher, CreditBudget]:
    publisher = publisher or MemoryPublisher()
    budget = CreditBudget(clock=clock, share=share, coins=len(coins), min_interval_seconds=0)
    client = fake.client(
        retry=RetryPolicy(3, 0.0, 0.0),
        sleep=clock.sleep,
        on_call=lambda _e: budget.record_call(),
        api_key=api_key,
    )
    async with client:
        runner = StreamRunner(
            source=LiveCoinWatchSource(
                client, coins=coins, currency="USD", clock=clock, intended_topic=TOPICS.current
            ),
            publisher=publisher,
            clock=clock,
            topics=TOPICS,
            stop=asyncio.Event(),
            budget=budget,
            read_credits=client.credits,
            max_cycles=cycles,
        )
        stats = await runner.run()
    return stats, publisher, budget


def demo_runner(clock: VirtualClock, publisher: MemoryPublisher, **options: Any) -> StreamRunner:
    """A StreamRunner on the seeded demo source, a cycle a virtual second; ``options`` as
    StreamRunner's (``stop`` defaults to an event nobody sets)."""
    return StreamRunner(
        source=DemoSource(coins=COINS, currency="USD", clock=clock, seed=1),
        publisher=publisher,
        clock=clock,
        topics=TOPICS,
        **{"stop": asyncio.Event(), "fixed_interval_seconds": 1.0, **options},
    )


def values(publisher: MemoryPublisher, topic: str) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in publisher.records if r.topic == topic]


async def test_each_cycle_publishes_one_message_per_coin_keyed_by_code() -> None:
    clock = VirtualClock(START)
    fake = FakeLiveCoinWatch(now_ms=clock.now_ms)
    stats, publisher, budget = await run_stream(fake, clock, cycles=5)
    current = [r for r in publisher.records if r.topic == TOPICS.current]
    assert len(current) == 15
    assert stats.published_messages == 15
    assert [r.key for r in current[:3]] == [b"BTC", b"ETH", b"SOL"]
    messages = values(publisher, TOPICS.current)
    assert_matches_contract("coins_current_full", messages)
    assert {m["source"] for m in messages} == {"livecoinwatch"}
    stamps = sorted({m["timestamp_ms"] for m in messages})
    assert len(stamps) == 5
    # Paced by the budget: 10,000 credits over the 18 h left, minus the /credits refreshes.
    gap = (stamps[1] - stamps[0]) / 1000
    assert gap == pytest.approx(budget.last_interval_seconds, rel=0.01)
    assert gap >= 8.64 * 0.75
    for message in messages:
        assert message["rate"] == FakeLiveCoinWatch.price(
            str(message["code"]), int(message["timestamp_ms"])
        )


async def test_a_bad_coin_goes_to_the_dead_letter_topic_and_the_others_still_flow() -> None:
    clock = VirtualClock(START)
    fake = FakeLiveCoinWatch(
        now_ms=clock.now_ms,
        coin_overrides={
            "ETH": {"rate": "not-a-number"},
            "SOL": {"delta": MISSING, "cap": None, "rank": "5"},
        },
    )
    stats, publisher, _ = await run_stream(fake, clock, cycles=2)
    current = values(publisher, TOPICS.current)
    assert sorted({str(m["code"]) for m in current}) == ["BTC", "SOL"]
    sol = next(m for m in current if m["code"] == "SOL")
    assert sol["cap"] is None
    assert sol["delta_day"] is None
    assert sol["rank"] == 5
    dead = values(publisher, TOPICS.dead_letter)
    assert len(dead) == 2
    assert_matches_contract("coins_current_full", current)
    assert_matches_contract("coins_dead_letter", dead)
    assert stats.dead_letters == 2
    assert dead[0]["code"] == "ETH"
    assert str(dead[0]["error"]).startswith("rate:")
    assert json.loads(str(dead[0]["raw"]))["rate"] == "not-a-number"


async def test_a_malformed_answer_is_kept_as_a_dead_letter_and_the_loop_goes_on() -> None:
    clock = VirtualClock(START)
    fake = FakeLiveCoinWatch(now_ms=clock.now_ms)
    fake.fail_next("malformed", endpoint="/coins/map")
    _stats, publisher, _ = await run_stream(fake, clock, cycles=3)
    dead = values(publisher, TOPICS.dead_letter)
    assert len(dead) == 1
    assert dead[0]["code"] == ""
    assert "not JSON" in str(dead[0]["error"])
    assert len(values(publisher, TOPICS.current)) == 2 * len(COINS)


async def test_transient_failures_are_retried_within_the_cycle() -> None:
    clock = VirtualClock(START)
    fake = FakeLiveCoinWatch(now_ms=clock.now_ms)
    fake.fail_next(503, endpoint="/coins/map")
    fake.fail_next("timeout", endpoint="/coins/map")
    fake.fail_next(429, retry_after="1", endpoint="/coins/map")
    stats, _publisher, budget = await run_stream(fake, clock, cycles=2)
    assert stats.published_messages == 2 * len(COINS)
    assert budget.total_calls == len(fake.calls), "failed attempts are counted as credits"


async def test_a_wrong_key_stops_the_stream() -> None:
    clock = VirtualClock(START)
    fake = FakeLiveCoinWatch(now_ms=clock.now_ms)
    with pytest.raises(AuthenticationError, match="COINS_LCW_API_KEY"):
        await run_stream(fake, clock, cycles=3, api_key="not-the-right-one")
    assert len(fake.calls) == 1


async def test_exhausted_credits_pause_until_the_reset_without_calling() -> None:
    clock = VirtualClock(START)
    fake = FakeLiveCoinWatch(now_ms=clock.now_ms, credits_remaining=3)
    stats, publisher, _ = await run_stream(fake, clock, cycles=3)
    next_midnight = (START // DAY_MS + 1) * DAY_MS
    assert stats.cycles == 3
    # Two credits cannot pay for a cycle and the refreshes still due today: wait for 00:00.
    before = [c for c in fake.calls if c.at_ms < next_midnight]
    assert [c.endpoint for c in before] == ["/credits"]
    stamps = sorted({int(m["timestamp_ms"]) for m in values(publisher, TOPICS.current)})
    assert next_midnight <= stamps[0] < next_midnight + 60_000
    assert all(c.status == 200 for c in fake.calls), "no call was made without credits"


async def test_simulated_days_stay_within_the_share_and_close_to_it() -> None:
    midnight = 1_735_689_600_000
    clock = VirtualClock(midnight)
    fake = FakeLiveCoinWatch(now_ms=clock.now_ms, credits_limit=1_000)
    await run_stream(fake, clock, cycles=2_000, share=0.9)
    per_day: dict[int, int] = {}
    for call in fake.calls:
        per_day[call.at_ms // DAY_MS] = per_day.get(call.at_ms // DAY_MS, 0) + 1
    full_days = sorted(per_day)[:-1]
    assert len(full_days) >= 2
    for day in full_days:
        assert 0.95 * 900 <= per_day[day] <= 900, per_day


async def test_stop_with_unacknowledged_data_reports_it() -> None:
    clock = VirtualClock(START)
    stop = asyncio.Event()
    publisher = UnreachableBroker()
    runner = demo_runner(clock, publisher, stop=stop, shutdown_timeout_seconds=1.0)
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(publisher.refusing.wait(), 5)
    stop.set()
    with pytest.raises(PublishTimeoutError) as caught:
        await asyncio.wait_for(task, 5)
    assert caught.value.unacknowledged >= len(COINS)


class StopAfter(MemoryPublisher):
    """Requests a stop (as SIGTERM would) once ``count`` records are acknowledged."""

    def __init__(self, count: int, stop: asyncio.Event) -> None:
        super().__init__()
        self._count, self._stop = count, stop

    async def publish(self, records: Sequence[Record], *, deadline: Deadline | None = None) -> None:
        await super().publish(records)
        if len(self.records) >= self._count:
            self._stop.set()


async def test_stop_flushes_everything_fetched() -> None:
    clock = VirtualClock(START)
    stop = asyncio.Event()
    publisher = StopAfter(30, stop)
    runner = demo_runner(clock, publisher, stop=stop)
    stats = await asyncio.wait_for(runner.run(), 5)
    assert len(publisher.records) >= 30
    assert stats.published_messages == len(publisher.records)
    assert stats.cycles * len(COINS) == len(publisher.records)


async def test_demo_source_walks_plausibly_and_says_so() -> None:
    clock = VirtualClock(START)
    source = DemoSource(coins=["BTC", "USDT", "NEWCOIN"], currency="USD", clock=clock, seed=7)
    prices: dict[str, list[float]] = {"BTC": [], "USDT": [], "NEWCOIN": []}
    for _ in range(8_640):  # one day at 10 s
        clock.advance(10)
        result = await source.fetch()
        assert_matches_contract("coins_current_full", [m.to_json_bytes() for m in result.messages])
        for message in result.messages:
            assert message.source == "demo"
            assert message.rate > 0
            prices[message.code].append(message.rate)
    btc = prices["BTC"]
    assert 50_000 < btc[0] < 150_000
    returns = [math.log(b / a) for a, b in itertools.pairwise(btc)]
    daily_vol = math.sqrt(sum(r * r for r in returns))
    assert 0.01 < daily_vol < 0.06, "BTC moves a few percent a day"
    assert max(abs(p - 1.0) for p in prices["USDT"]) < 0.01, "stablecoins stay near 1"
    assert all(p > 0 for p in prices["NEWCOIN"])


async def test_unreadable_credits_slow_the_stream_down_instead_of_guessing() -> None:
    clock = VirtualClock(START)
    fake = FakeLiveCoinWatch(now_ms=clock.now_ms)
    fake.fail_next(503, times=3, endpoint="/credits")
    stats, publisher, _ = await run_stream(fake, clock, cycles=2)
    stamps = sorted({int(m["timestamp_ms"]) for m in values(publisher, TOPICS.current)})
    assert stats.cycles == 2
    assert stamps[1] - stamps[0] >= 60_000, "60 s while the limit is unknown"


async def test_a_malformed_credits_answer_does_not_stop_the_stream() -> None:
    clock = VirtualClock(START)
    fake = FakeLiveCoinWatch(now_ms=clock.now_ms)
    fake.fail_next("malformed", endpoint="/credits")
    stats, publisher, _ = await run_stream(fake, clock, cycles=2)
    assert stats.cycles == 2
    assert len(values(publisher, TOPICS.current)) == 2 * len(COINS)


@pytest.mark.parametrize("status", [502, 504])
async def test_a_gateway_error_skips_the_cycle_without_retrying_or_stopping(status: int) -> None:
    clock = VirtualClock(START)
    fake = FakeLiveCoinWatch(now_ms=clock.now_ms)
    fake.fail_next(status, endpoint="/coins/map")
    stats, publisher, _ = await run_stream(fake, clock, cycles=2)
    map_calls = fake.calls_to("/coins/map")
    assert [c.status for c in map_calls] == [status, 200, 200], "not retried within the call"
    assert stats.failed_fetches == 1
    assert stats.cycles == 2
    assert len(values(publisher, TOPICS.current)) == 2 * len(COINS)


async def test_a_rejected_request_still_stops_the_stream() -> None:
    clock = VirtualClock(START)
    fake = FakeLiveCoinWatch(now_ms=clock.now_ms)
    fake.fail_next(403, endpoint="/coins/map")
    with pytest.raises(RequestRejectedError):
        await run_stream(fake, clock, cycles=2)


class StalledBroker(MemoryPublisher):
    """Acknowledges nothing until ``release`` is set, like a broker that is down."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def publish(self, records: Sequence[Record], *, deadline: Deadline | None = None) -> None:
        await self.release.wait()
        await super().publish(records)


async def test_a_full_buffer_pauses_fetching_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock(START)
    publisher = StalledBroker()
    runner = demo_runner(clock, publisher, buffer_cycles=2, max_cycles=6)
    task = asyncio.create_task(runner.run())
    # One batch in the publisher, two queued, one waiting for room: nothing more is fetched.
    # A fetcher that did not wait would run on to the sixth (virtual seconds take no real time).
    await eventually_async(
        lambda: runner.stats.cycles,
        until=lambda cycles: cycles >= 4,
        within=5,
        what="four cycles fetched",
        interval=0.005,
    )
    assert runner.stats.cycles == 4
    assert "buffer is full" in caplog.text
    publisher.release.set()
    stats = await asyncio.wait_for(task, 5)
    assert stats.published_messages == 6 * len(COINS)
    assert "buffer has room again" in caplog.text


async def test_stats_stay_bounded_over_a_long_run() -> None:
    clock = VirtualClock(START)
    runner = demo_runner(clock, MemoryPublisher(), max_cycles=500)
    stats = await runner.run()
    assert stats.published_messages == 500 * len(COINS)
    assert stats.last_acknowledged_tick_ms == clock.now_ms() - 1_000
    assert all(not isinstance(value, list) for value in vars(stats).values())


async def test_a_failed_second_page_keeps_the_coins_of_the_first() -> None:
    clock = VirtualClock(START)
    codes = [f"C{i:03d}" for i in range(150)]
    fake = FakeLiveCoinWatch(now_ms=clock.now_ms, coin_overrides={c: {} for c in codes})
    second_page_failures = [0]

    def second_page_down(endpoint: str, body: Any) -> httpx.Response | None:
        if endpoint == "/coins/map" and body["codes"][0] == "C100" and second_page_failures[0] < 3:
            second_page_failures[0] += 1  # every attempt of the first cycle (3 in run_stream)
            return fake.error_response(503, "fault 503")
        return None

    fake.on_request = second_page_down
    stats, publisher, _ = await run_stream(fake, clock, cycles=2, coins=codes)
    first, second = sorted({int(m["timestamp_ms"]) for m in values(publisher, TOPICS.current)})
    by_tick = {
        stamp: sorted(
            str(m["code"]) for m in values(publisher, TOPICS.current) if m["timestamp_ms"] == stamp
        )
        for stamp in (first, second)
    }
    assert by_tick[first] == codes[:100], "the coins already fetched are published"
    assert by_tick[second] == codes
    assert stats.failed_fetches == 1


async def test_a_key_spent_by_someone_else_is_not_hammered_until_the_reset() -> None:
    clock = VirtualClock(START)
    fake = FakeLiveCoinWatch(now_ms=clock.now_ms)

    def spent_after_first_cycle(endpoint: str, body: Any) -> httpx.Response | None:
        if endpoint == "/coins/map" and len(fake.calls_to("/coins/map")) == 1:
            fake.credits_remaining = 0  # someone else spends every credit left
        return None

    fake.on_request = spent_after_first_cycle
    # Exhausted, the fake answers 429 to /credits too: the budget cannot learn why.
    stats, publisher, _ = await run_stream(fake, clock, cycles=2)
    next_midnight = (START // DAY_MS + 1) * DAY_MS
    refused = [c for c in fake.calls if c.status == 429]
    assert refused, "the scenario really exhausted the key"
    # Final until the reset: the refused call and one /credits look, no retries.
    assert [c.endpoint for c in refused] == ["/coins/map", "/credits"]
    stamps = sorted({int(m["timestamp_ms"]) for m in values(publisher, TOPICS.current)})
    assert stats.cycles == 2
    assert next_midnight <= stamps[1] < next_midnight + 120_000, "resumes right after 00:00"


async def test_a_stop_with_a_full_buffer_counts_every_unacknowledged_record() -> None:
    clock = VirtualClock(START)
    stop = asyncio.Event()
    runner = demo_runner(
        clock, UnreachableBroker(), stop=stop, buffer_cycles=1, shutdown_timeout_seconds=1.0
    )
    task = asyncio.create_task(runner.run())
    await eventually_async(
        lambda: runner.stats.cycles,
        until=lambda cycles: cycles >= 3,
        within=5,
        what="three cycles fetched",
        interval=0.001,
    )
    # One cycle in the publisher, one queued, one waiting for room in the buffer.
    assert runner.stats.cycles == 3
    stop.set()
    with pytest.raises(PublishTimeoutError) as caught:
        await asyncio.wait_for(task, 5)
    assert caught.value.unacknowledged == 3 * len(COINS)
