"""The backfill's call pacing (producers.budget.CallPacer) on a virtual clock."""

from __future__ import annotations

from producers.budget import CallPacer
from tests.support.virtual_clock import VirtualClock


async def test_calls_are_spaced_at_the_configured_rate() -> None:
    clock = VirtualClock(0)
    pacer = CallPacer(clock, calls_per_second=4)
    starts = []
    for _ in range(9):
        await pacer.before_call()
        starts.append(clock.now_ms())
        pacer.answered()
    assert starts == [i * 250 for i in range(9)]


async def test_a_burst_refusal_halves_the_rate_and_waits_for_retry_after() -> None:
    clock = VirtualClock(0)
    pacer = CallPacer(clock, calls_per_second=8)
    await pacer.before_call()
    pacer.rate_limited(retry_after_seconds=1.0)
    assert pacer.rate == 4
    await pacer.before_call()
    assert clock.now_ms() == 1_000
    await pacer.before_call()
    assert clock.now_ms() == 1_250


async def test_the_rate_recovers_but_never_to_the_refused_one() -> None:
    clock = VirtualClock(0)
    pacer = CallPacer(clock, calls_per_second=10)
    pacer.rate_limited(None)  # refused at 10/s: the limit is below it
    assert pacer.rate == 5
    for _ in range(10 * CallPacer.RECOVER_AFTER):
        await pacer.before_call()
        pacer.answered()
    assert pacer.rate == 9  # 90 % of the refused rate, not the configured 10
    assert pacer.slowdowns == 1


async def test_repeated_refusals_keep_a_floor() -> None:
    pacer = CallPacer(VirtualClock(0), calls_per_second=32)
    for _ in range(20):
        pacer.rate_limited(None)
    assert pacer.rate == 1
