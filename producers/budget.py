"""Daily credit budget: how often the stream may poll, and how much the backfill may spend.

LiveCoinWatch charges one credit per call (failed calls and ``/credits`` included, as far as
anyone knows) and resets every key at 00:00 UTC. The stream gets ``share`` of the daily limit.
Rather than a fixed cadence, the interval is recomputed after every cycle from what is left
of today's allotment and of the key itself, so retries, restarts mid-day and other users of
the key slow the stream down instead of pushing it over the limit.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from producers.clock import DAY_MS, Clock, next_reset_ms
from producers.errors import CreditsExhaustedError
from producers.sources.livecoinwatch import Credits

log = logging.getLogger(__name__)

# Credits kept aside so a refresh of /credits or a last retry never crosses the limit.
SAFETY_CREDITS = 1


def calls_per_cycle(coin_count: int, page_size: int = 100) -> int:
    """One /coins/map call per 100 coins."""
    return max(1, math.ceil(coin_count / page_size))


@dataclass(frozen=True)
class BudgetSnapshot:
    limit: int
    key_remaining: int
    window_allotment: int
    window_spent: int
    interval_seconds: float


class CreditBudget:
    def __init__(
        self,
        *,
        clock: Clock,
        share: float,
        coins: int,
        refresh_seconds: float = 900.0,
        min_interval_seconds: float = 1.0,
        attempts_per_call: int = 1,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        if attempts_per_call < 1:
            raise ValueError("attempts_per_call must be at least 1")
        self._clock = clock
        self._share = share
        self.calls_per_cycle = calls_per_cycle(coins)
        # A cycle whose every call needs every retry costs this much more: a cycle may only
        # start if even that fits, so the last cycle of the day cannot cross the limit.
        self._worst_case_retries = self.calls_per_cycle * (attempts_per_call - 1)
        self._refresh_ms = int(refresh_seconds * 1000)
        self._min_interval = min_interval_seconds
        self._limit = 0
        self._key_remaining = 0
        self._window_reset_ms = 0
        self._window_allotment = 0
        self._window_spent = 0
        self._last_refresh_ms: int | None = None
        self._others_per_ms = 0.0
        self.total_calls = 0
        self.last_interval_seconds = 0.0

    # --- inputs ------------------------------------------------------------------------
    def update(self, credits: Credits) -> None:
        """Take a fresh ``/credits`` answer as the truth about the key."""
        now = self._clock.now_ms()
        self._roll_window(now)
        if self._limit == 0:
            self._limit = credits.limit
            self._open_window(now, prorate=True)
        self._limit = credits.limit
        self._window_allotment = min(self._window_allotment, self._daily_allotment())
        if self._last_refresh_ms is not None and self._last_refresh_ms >= now - DAY_MS:
            # What the key lost beyond our own calls since the last look was spent by someone
            # else; project that rate over the rest of the day so we leave it to them.
            elapsed = now - self._last_refresh_ms
            same_window = self._last_refresh_ms >= self._window_reset_ms - DAY_MS
            if elapsed > 0 and same_window:
                others = max(0, self._key_remaining - credits.remaining)
                rate = others / elapsed
                self._others_per_ms = (
                    rate if self._others_per_ms == 0 else (0.5 * self._others_per_ms + 0.5 * rate)
                )
        self._key_remaining = credits.remaining
        self._last_refresh_ms = now

    def record_call(self) -> None:
        """Count one HTTP attempt (successful or not) made by this process."""
        self._roll_window(self._clock.now_ms())
        self.total_calls += 1
        self._window_spent += 1
        self._key_remaining -= 1

    # --- outputs -----------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return self._limit > 0

    def refresh_due(self) -> bool:
        if self._last_refresh_ms is None:
            return True
        now = self._clock.now_ms()
        self._roll_window(now)
        if self._last_refresh_ms < self._window_reset_ms - DAY_MS:
            return True  # a new UTC day started since the last look
        return now - self._last_refresh_ms >= self._refresh_ms

    def next_interval_seconds(self) -> float:
        """Seconds to wait before the next cycle; raises when no cycle fits before the reset."""
        now = self._clock.now_ms()
        self._roll_window(now)
        seconds_left = max(0.001, (self._window_reset_ms - now) / 1000)
        # Others' spending since our last look is not in _key_remaining yet: project it too.
        since = self._last_refresh_ms if self._last_refresh_ms is not None else now
        since = max(since, self._window_reset_ms - DAY_MS)
        others_ahead = math.ceil(self._others_per_ms * (self._window_reset_ms - min(since, now)))
        usable = min(
            self._window_allotment - self._window_spent, self._key_remaining - others_ahead
        )
        # Reserve the /credits refreshes still to come in this window.
        reserve = math.ceil(seconds_left * 1000 / self._refresh_ms) + SAFETY_CREDITS
        usable -= reserve
        cycles = (usable - self._worst_case_retries) // self.calls_per_cycle
        if cycles <= 0:
            raise CreditsExhaustedError(
                self._window_reset_ms, self._why_no_cycle(others_ahead, reserve)
            )
        self.last_interval_seconds = max(self._min_interval, seconds_left / cycles)
        return self.last_interval_seconds

    def snapshot(self) -> BudgetSnapshot:
        return BudgetSnapshot(
            limit=self._limit,
            key_remaining=self._key_remaining,
            window_allotment=self._window_allotment,
            window_spent=self._window_spent,
            interval_seconds=self.last_interval_seconds,
        )

    def _why_no_cycle(self, others_ahead: int, reserve: int) -> str:
        """Say which limit stops the stream: credits it spent, credits others spent, or an
        allotment that never had room for one cycle (then nothing was spent on cycles)."""
        worst_cycle = self.calls_per_cycle + self._worst_case_retries
        own_left = self._window_allotment - self._window_spent
        key_left = self._key_remaining - others_ahead
        if key_left < own_left:
            return (
                f"daily credits of the key spent: {self._key_remaining} left on the key, "
                f"~{others_ahead} of them projected for its other users, while a cycle may "
                f"cost {worst_cycle} with retries"
            )
        if self._window_allotment - reserve < worst_cycle:
            return (
                f"daily credits for the stream too few, no cycle spent any: today's allotment "
                f"of {self._window_allotment} credits (COINS_STREAM_CREDIT_SHARE of the "
                f"{self._limit} limit, for what is left of the day, {reserve} of it kept for "
                f"/credits refreshes) cannot pay one cycle of up to {worst_cycle} calls"
            )
        return (
            f"daily credits for the stream spent: {self._window_spent} of today's "
            f"{self._window_allotment} used"
        )

    # --- internals ---------------------------------------------------------------------
    def _daily_allotment(self) -> int:
        return math.floor(self._limit * self._share)

    def _open_window(self, now: int, *, prorate: bool) -> None:
        self._window_reset_ms = next_reset_ms(now)
        full = self._daily_allotment()
        if prorate:
            # Started mid-day: take only the part of today's share that is still ahead, so a
            # restart never bursts through a whole day's allotment in a few hours.
            fraction = (self._window_reset_ms - now) / DAY_MS
            self._window_allotment = math.floor(full * fraction)
        else:
            self._window_allotment = full
        self._window_spent = 0

    def _roll_window(self, now: int) -> None:
        if self._limit and now >= self._window_reset_ms:
            self._open_window(now, prorate=False)
            # Until the next refresh, assume the reset gave the key its full limit back.
            self._key_remaining = self._limit


def backfill_allowance(credits: Credits, *, stream_share: float, now_ms: int) -> int:
    """Credits the backfill may spend now without eating the stream's share of today."""
    seconds_left = (next_reset_ms(now_ms) - now_ms) / DAY_MS
    stream_still_needs = math.ceil(math.floor(credits.limit * stream_share) * seconds_left)
    return max(0, credits.remaining - stream_still_needs - SAFETY_CREDITS)


class CallPacer:
    """Spaces the calls of a batch job (the backfill) so a burst limit rarely refuses them.

    At most ``calls_per_second``. The API documents no per-second limit, but back-to-back
    bursts get 429: after such a refusal the rate halves (down to 1/32 of the setting) and
    the next call waits for ``Retry-After`` if one was sent; every ``RECOVER_AFTER`` answered
    calls in a row it grows back by a quarter, but never again to 90 % of a rate that was
    refused. A limit that is not announced can only be found by backing off when it is hit
    (as TCP does with congestion).
    """

    RECOVER_AFTER = 20
    MIN_FRACTION = 1 / 32

    def __init__(self, clock: Clock, calls_per_second: float) -> None:
        if calls_per_second <= 0:
            raise ValueError("calls_per_second must be positive")
        self._clock = clock
        self.max_rate = calls_per_second
        self.rate = calls_per_second
        self._ceiling = calls_per_second
        self._next_ms: float | None = None
        self._streak = 0
        self.slowdowns = 0

    async def before_call(self) -> None:
        now = self._clock.now_ms()
        if self._next_ms is not None and now < self._next_ms:
            await self._clock.sleep((self._next_ms - now) / 1000)
            now = self._clock.now_ms()
        self._next_ms = max(float(now), self._next_ms or 0.0) + 1000 / self.rate

    def rate_limited(self, retry_after_seconds: float | None) -> None:
        # Never grow back to the rate that was refused: the limit lies below it.
        self._ceiling = min(self._ceiling, self.rate * 0.9)
        self.rate = max(self.max_rate * self.MIN_FRACTION, self.rate / 2)
        self._streak = 0
        self.slowdowns += 1
        log.info("burst limit hit: pacing calls at %.3g per second", self.rate)
        if retry_after_seconds is not None:
            after = self._clock.now_ms() + retry_after_seconds * 1000
            self._next_ms = max(self._next_ms or 0.0, after)

    def answered(self) -> None:
        self._streak += 1
        if self._streak >= self.RECOVER_AFTER and self.rate < self._ceiling:
            self.rate = min(self._ceiling, self.rate * 1.25)
            self._streak = 0
