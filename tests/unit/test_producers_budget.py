"""Credit budget arithmetic over whole simulated days on a virtual clock."""

from __future__ import annotations

import math

import pytest

from producers.budget import CreditBudget, backfill_allowance, calls_per_cycle
from producers.clock import DAY_MS, HOUR_MS
from producers.errors import CreditsExhaustedError
from producers.sources.livecoinwatch import Credits
from tests.support.virtual_clock import VirtualClock

MIDNIGHT = 1_735_689_600_000  # 2025-01-01T00:00:00Z


class Key:
    """The truth about a key, as LiveCoinWatch would keep it."""

    def __init__(self, clock: VirtualClock, limit: int) -> None:
        self.clock, self.limit, self.spent, self.day = clock, limit, 0, clock.now_ms() // DAY_MS

    def _roll(self) -> None:
        if self.clock.now_ms() // DAY_MS != self.day:
            self.day, self.spent = self.clock.now_ms() // DAY_MS, 0

    def call(self) -> None:
        self._roll()
        self.spent += 1
        assert self.spent <= self.limit, "the key went over its daily limit"

    def call_if_possible(self) -> None:
        """Another user of the key: the API simply refuses them once the key is spent."""
        self._roll()
        self.spent = min(self.limit, self.spent + 1)

    def credits(self) -> Credits:
        self._roll()
        return Credits(remaining=self.limit - self.spent, limit=self.limit)


def simulate(
    start_ms: int,
    seconds: float,
    *,
    limit: int = 10_000,
    share: float = 1.0,
    coins: int = 10,
    other_use_per_hour: int = 0,
    retries_every: int = 0,
    failed_attempts: int = 1,
    attempts_per_call: int = 1,
) -> tuple[Key, CreditBudget, list[int]]:
    clock = VirtualClock(start_ms)
    key = Key(clock, limit)
    budget = CreditBudget(
        clock=clock,
        share=share,
        coins=coins,
        refresh_seconds=900,
        min_interval_seconds=0,
        attempts_per_call=attempts_per_call,
    )
    stream_calls_per_day: dict[int, int] = {}
    cycle = 0
    end = start_ms + int(seconds * 1000)
    next_other = start_ms
    while clock.now_ms() < end:
        while other_use_per_hour and clock.now_ms() >= next_other:
            key.call_if_possible()
            next_other += HOUR_MS // other_use_per_hour
        if budget.refresh_due():
            key.call()
            budget.record_call()
            budget.update(key.credits())
        resume_at: int | None
        try:
            budget.next_interval_seconds()
        except CreditsExhaustedError as exhausted:
            resume_at = exhausted.resume_at_ms
        else:
            resume_at = None
        if resume_at is not None:
            assert resume_at % DAY_MS == 0, "credits come back at 00:00 UTC"
            clock.advance((resume_at - clock.now_ms()) / 1000 + 1)
            continue
        cycle += 1
        retry = failed_attempts if retries_every and cycle % retries_every == 0 else 0
        for _ in range(budget.calls_per_cycle + retry):
            key.call()
            budget.record_call()
            day = clock.now_ms() // DAY_MS
            stream_calls_per_day[day] = stream_calls_per_day.get(day, 0) + 1
        try:
            clock.advance(budget.next_interval_seconds())
        except CreditsExhaustedError as exhausted:
            # As the stream does: no cycle fits before the reset, so sleep until it.
            clock.advance((exhausted.resume_at_ms - clock.now_ms()) / 1000 + 1)
    return key, budget, list(stream_calls_per_day.values())


def test_calls_per_cycle_is_one_per_hundred_coins() -> None:
    assert [calls_per_cycle(n) for n in (1, 10, 100, 101, 250)] == [1, 1, 1, 2, 3]


def test_a_full_day_uses_nearly_all_of_a_10000_credit_key_and_never_more() -> None:
    _key, budget, _per_day = simulate(MIDNIGHT, 86_400)
    used = budget.total_calls
    assert 9_500 <= used <= 10_000
    # One call every 8.64 s is the floor; the budget stays at or above it.
    assert budget.last_interval_seconds >= 8.64 * 0.99


def test_stream_share_leaves_room_for_the_backfill() -> None:
    _key, budget, _ = simulate(MIDNIGHT, 86_400, share=0.9)
    assert 0.95 * 9_000 <= budget.total_calls <= 9_000


@pytest.mark.parametrize("coins", [1, 10, 100, 250, 1000])
def test_never_above_the_limit_whatever_the_number_of_coins(coins: int) -> None:
    _key, budget, _ = simulate(MIDNIGHT, 86_400, coins=coins)
    assert budget.total_calls <= 10_000
    assert budget.total_calls >= 0.95 * 10_000 - calls_per_cycle(coins)


def test_three_days_in_a_row_reset_at_midnight() -> None:
    _key, _budget, per_day = simulate(MIDNIGHT, 3 * 86_400)
    assert len(per_day) == 3
    assert all(9_300 <= calls <= 10_000 for calls in per_day)


def test_a_mid_day_start_takes_only_the_rest_of_todays_share() -> None:
    start = MIDNIGHT + 18 * HOUR_MS  # 6 hours left
    _key, budget, _ = simulate(start, 6 * 3600 - 1)
    assert budget.total_calls <= math.ceil(10_000 / 4)
    assert budget.total_calls >= 0.9 * 10_000 / 4


def test_other_users_of_the_key_slow_the_stream_down() -> None:
    key, budget, _ = simulate(MIDNIGHT, 86_400, other_use_per_hour=100)  # 2,400 a day
    assert budget.total_calls <= 10_000 - 2_400
    assert key.spent <= 10_000


def test_retries_are_paid_for_by_a_longer_interval() -> None:
    _key, budget, _ = simulate(MIDNIGHT, 86_400, retries_every=5)
    assert 9_500 <= budget.total_calls <= 10_000


@pytest.mark.parametrize("coins", [10, 250, 1000])
def test_a_last_cycle_that_needs_every_retry_still_fits_in_the_allotment(coins: int) -> None:
    # Every call of every cycle fails five times before it answers (six attempts): the
    # worst case the retry policy allows. The key must still never go over its limit.
    key, budget, _per_day = simulate(
        MIDNIGHT,
        86_400,
        coins=coins,
        retries_every=1,
        failed_attempts=5 * calls_per_cycle(coins),
        attempts_per_call=6,
    )
    assert key.spent <= 10_000
    assert budget.total_calls <= 10_000
    assert budget.total_calls >= 0.95 * 10_000


def test_exhausted_credits_pause_until_midnight() -> None:
    clock = VirtualClock(MIDNIGHT + 20 * HOUR_MS)
    budget = CreditBudget(clock=clock, share=1.0, coins=10)
    budget.update(Credits(remaining=0, limit=10_000))
    with pytest.raises(CreditsExhaustedError) as exhausted:
        budget.next_interval_seconds()
    assert exhausted.value.resume_at_ms == MIDNIGHT + DAY_MS
    clock.advance(4 * 3600 + 1)
    assert budget.refresh_due()
    assert budget.next_interval_seconds() == pytest.approx(86_400 / (10_000 - 96 - 1), rel=0.01)


def test_min_interval_caps_the_cadence_of_big_plans() -> None:
    clock = VirtualClock(MIDNIGHT)
    budget = CreditBudget(clock=clock, share=1.0, coins=10, min_interval_seconds=1.0)
    budget.update(Credits(remaining=10_000_000, limit=10_000_000))
    assert budget.next_interval_seconds() == 1.0


def test_backfill_allowance_keeps_the_streams_share_for_the_rest_of_the_day() -> None:
    credits = Credits(remaining=6_000, limit=10_000)
    noon = MIDNIGHT + 12 * HOUR_MS
    assert backfill_allowance(credits, stream_share=0.9, now_ms=noon) == 6_000 - 4_500 - 1
    assert backfill_allowance(credits, stream_share=1.0, now_ms=MIDNIGHT) == 0


def test_the_exhaustion_reason_says_whether_the_stream_spent_its_credits() -> None:
    # Spent: a whole day of cycles used the allotment.
    clock = VirtualClock(MIDNIGHT)
    budget = CreditBudget(clock=clock, share=0.5, coins=10, refresh_seconds=86_400)
    budget.update(Credits(remaining=10_000, limit=10_000))

    def spend_until_refused() -> None:
        while True:
            budget.next_interval_seconds()
            budget.record_call()

    with pytest.raises(CreditsExhaustedError) as spent:
        spend_until_refused()
    assert spent.value.reason.startswith("daily credits for the stream spent: ")
    assert "of today's 5000 used" in spent.value.reason
    # Too few: the allotment never had room for one cycle; nothing was spent on cycles.
    clock = VirtualClock(MIDNIGHT + 23 * HOUR_MS)
    small = CreditBudget(clock=clock, share=0.01, coins=10, attempts_per_call=6)
    small.update(Credits(remaining=100, limit=100))
    with pytest.raises(CreditsExhaustedError) as too_few:
        small.next_interval_seconds()
    assert too_few.value.reason.startswith("daily credits for the stream too few")
    assert "no cycle spent any" in too_few.value.reason
    # The key's credits went elsewhere: neither of the two.
    clock = VirtualClock(MIDNIGHT + 12 * HOUR_MS)
    shared = CreditBudget(clock=clock, share=1.0, coins=10)
    shared.update(Credits(remaining=3, limit=10_000))
    with pytest.raises(CreditsExhaustedError) as elsewhere:
        shared.next_interval_seconds()
    assert elsewhere.value.reason.startswith("daily credits of the key spent")
