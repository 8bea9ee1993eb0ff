"""``coins backfill``: history per coin into the history topic, budget-aware and resumable.

For each coin, the pending days (outside what Kafka already holds, plus the gaps inside it)
are fetched in multi-day ranges whose length the planner learns; each accepted range is
published, acknowledged, and only then recorded in the compacted progress topic. A crash at
any point loses at most the range in flight, and a rerun starts exactly where the
acknowledged data ends.

A day counts as done only when its 12:00 UTC close was published. A range whose answer
failed after every retry (a malformed body is dead-lettered with its raw content), a close
that was invalid, or one the answer did not hold stays *pending* in the progress record and
is asked again (transient causes once more in the same run, all of them by the next run);
days after the API's newest point (it lags) are simply not covered yet.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from producers.clock import Clock, seconds_clock
from producers.errors import (
    ApiUnavailableError,
    DailyCreditsExhaustedError,
    MalformedResponseError,
    RetryableApiError,
    UnexpectedStatusError,
)
from producers.kafka.publisher import Publisher, Record
from producers.models import (
    ApiHistoryPoint,
    BackfillProgressMessage,
    DeadLetterMessage,
    HistoricalMessage,
    RangeLengthMessage,
    describe_validation_error,
    raw_json,
)
from producers.planner import (
    ONE_DAY,
    Coverage,
    Gap,
    PendingReason,
    Range,
    Segment,
    SpanLearner,
    Verdict,
    assess,
    gap_segments,
    next_range,
    pending_segments,
)
from producers.progress import CoinProgress, gaps_to_wire
from producers.progress_bar import ProgressBar
from producers.retry import Deadline
from producers.sources.history import HistorySource

log = logging.getLogger(__name__)

# Ranges failing in a row, each after every retry, before the API is declared down (exit 1).
API_DOWN_AFTER_FAILED_RANGES = 3
# Failed calls add to the estimate: each one costs a credit. Stated with the estimate.
ESTIMATE_UNCERTAINTY = 0.25
NOT_FETCHED = "not fetched yet"
AFTER_NEWEST_POINT = "after the API's newest point (it lags behind)"


@dataclass(frozen=True)
class BackfillTopics:
    history: str
    progress: str
    dead_letter: str


@dataclass
class BackfillPlan:
    since: dt.date
    until: dt.date
    segments: dict[str, list[Segment]]
    expected_calls: int
    # The fewest calls the plan could take (every range at the longest allowed length).
    fewest_calls: int = 0
    span_days: int = 1
    span_learned: bool = False

    @property
    def pending_days(self) -> int:
        return sum(s.days for segments in self.segments.values() for s in segments)

    @property
    def one_call_per_day_cost(self) -> int:
        return self.pending_days

    def pending_by_reason(self) -> Counter[str]:
        reasons: Counter[str] = Counter()
        for segments in self.segments.values():
            for segment in segments:
                why = segment.refill.explanation if segment.refill else NOT_FETCHED
                reasons[why] += segment.days
        return reasons


@dataclass
class BackfillReport:
    calls: int = 0
    ranges_accepted: int = 0
    ranges_too_coarse: int = 0
    ranges_failed: int = 0
    days_covered: int = 0
    days_without_close: list[tuple[str, dt.date]] = field(default_factory=list)
    days_lagging: list[tuple[str, dt.date]] = field(default_factory=list)
    days_before_history: int = 0
    points_published: int = 0
    dead_letters: int = 0
    stopped_early: str | None = None
    credits_exhausted: bool = False
    fetched_ranges: list[Range] = field(default_factory=list)
    # Filled in by the command: the estimate it printed and what stays pending, by reason.
    estimated_calls: int | None = None
    pending_after: Counter[str] = field(default_factory=Counter)


def describe_pending(reasons: Counter[str]) -> str:
    """``N coin-days pending (a: why, b: why)`` for the command's output."""
    total = sum(reasons.values())
    if not total:
        return "0 coin-days pending"
    parts = ", ".join(f"{days} {why}" for why, days in reasons.most_common())
    return f"{total} coin-days pending ({parts})"


def make_plan(
    *,
    coins: Sequence[str],
    since: dt.date,
    until: dt.date,
    progress: dict[str, CoinProgress],
    learner: SpanLearner,
    only: Callable[[Segment], bool] | None = None,
) -> BackfillPlan:
    segments: dict[str, list[Segment]] = {}
    for code in coins:
        state = progress.get(code, CoinProgress(None))
        coin_segments = pending_segments(since, until, state.coverage)
        coin_segments += gap_segments(since, until, state.coverage, state.gaps)
        if only is not None:
            coin_segments = [s for s in coin_segments if only(s)]
        segments[code] = coin_segments
    all_segments = [s for segs in segments.values() for s in segs]
    expected = sum(learner.expected_calls(s.days) for s in all_segments)
    if expected and not learner.converged:
        # Discovering the granularity costs a few discarded ranges (about log2 of the span).
        expected += max(1, learner.max_days.bit_length() // 2)
    fewest = sum(math.ceil(s.days / learner.max_days) for s in all_segments)
    return BackfillPlan(
        since=since,
        until=until,
        segments=segments,
        expected_calls=expected,
        fewest_calls=fewest,
        span_days=learner.next_span(),
        span_learned=learner.converged,
    )


def _day_map(gaps: Iterable[Gap]) -> dict[dt.date, PendingReason]:
    days: dict[dt.date, PendingReason] = {}
    for gap in gaps:
        day = gap.first_day
        while day <= gap.last_day:
            days[day] = gap.reason
            day += ONE_DAY
    return days


def _gaps_from_days(days: dict[dt.date, PendingReason]) -> tuple[Gap, ...]:
    """Consecutive days with the same reason, as intervals."""
    gaps: list[Gap] = []
    for day in sorted(days):
        reason = days[day]
        if gaps and gaps[-1].reason is reason and gaps[-1].last_day + ONE_DAY == day:
            gaps[-1] = Gap(gaps[-1].first_day, day, reason)
        else:
            gaps.append(Gap(day, day, reason))
    return tuple(gaps)


class BackfillRunner:
    def __init__(
        self,
        *,
        source: HistorySource,
        publisher: Publisher,
        clock: Clock,
        topics: BackfillTopics,
        currency: str,
        learner: SpanLearner,
        progress: dict[str, CoinProgress],
        stop: asyncio.Event,
        credit_cap: int | None = None,
        calls_made: Callable[[], int] | None = None,
        attempts_per_call: int = 1,
        bar: ProgressBar | None = None,
        shutdown_timeout_seconds: float = 30.0,
        range_length_api: str | None = None,
    ) -> None:
        self._source = source
        self._publisher = publisher
        self._clock = clock
        self._topics = topics
        self._currency = currency
        self._learner = learner
        self._progress = dict(progress)
        self._stop = stop
        self._credit_cap = credit_cap
        self._calls_made = calls_made
        self._attempts_per_call = attempts_per_call
        self._bar = bar
        self._shutdown_timeout = shutdown_timeout_seconds
        self._range_length_api = range_length_api
        self._deadline = Deadline(clock=seconds_clock(clock))
        self._failed_in_a_row = 0
        self._lagging: set[str] = set()
        self._pause: Callable[[], bool] | None = None
        self.report = BackfillReport()

    @property
    def progress(self) -> dict[str, CoinProgress]:
        return dict(self._progress)

    def set_credit_cap(self, cap: int | None) -> None:
        self._credit_cap = cap

    # --- publishing ----------------------------------------------------------------------
    async def _record_progress(self, code: str, state: CoinProgress) -> None:
        assert state.coverage is not None
        message = BackfillProgressMessage(
            code=code,
            currency=self._currency,
            done_from_ms=state.coverage.first_noon_ms,
            done_through_ms=state.coverage.last_noon_ms,
            updated_at_ms=self._clock.now_ms(),
            pending=gaps_to_wire(state.gaps),
            first_point_ms=state.first_point_ms,
        )
        record = Record(
            topic=self._topics.progress,
            key=BackfillProgressMessage.key_for(code, self._currency),
            value=message.to_json_bytes(),
        )
        await self._publisher.publish([record], deadline=self._deadline)

    async def _record_range_length(self) -> None:
        if self._range_length_api is None:
            return
        message = RangeLengthMessage(
            api=self._range_length_api,
            good_days=self._learner.good_days,
            bad_days=self._learner.bad_days,
            updated_at_ms=self._clock.now_ms(),
        )
        record = Record(
            topic=self._topics.progress,
            key=RangeLengthMessage.key_for(self._range_length_api),
            value=message.to_json_bytes(),
        )
        await self._publisher.publish([record], deadline=self._deadline)

    def _dead_letter(self, code: str, error: str, raw: str) -> DeadLetterMessage:
        return DeadLetterMessage(
            source=self._source.name,
            intended_topic=self._topics.history,
            code=code,
            error=error,
            raw=raw,
            failed_at_ms=self._clock.now_ms(),
        )

    def _validate(
        self, code: str, payloads: list[dict[str, Any]]
    ) -> tuple[list[HistoricalMessage], list[DeadLetterMessage], list[int]]:
        """Valid messages, dead letters, and the dates of the invalid points (when readable)."""
        good: list[HistoricalMessage] = []
        bad: list[DeadLetterMessage] = []
        invalid_dates: list[int] = []
        for payload in payloads:
            try:
                point = ApiHistoryPoint.model_validate(payload)
            except ValidationError as error:
                bad.append(
                    self._dead_letter(
                        code,
                        describe_validation_error(error),
                        raw_json(payload.get("_raw", payload)),
                    )
                )
                date = payload.get("date")
                if isinstance(date, int | float) and not isinstance(date, bool):
                    invalid_dates.append(int(date))
                continue
            good.append(
                HistoricalMessage.from_api(
                    point, code=code, source=self._source.name, currency=self._currency
                )
            )
        return good, bad, invalid_dates

    # --- the loop ------------------------------------------------------------------------
    def _out_of_credits(self) -> bool:
        if self._credit_cap is None or self._calls_made is None:
            return False
        # A call may cost every attempt of the retry policy: start it only if all of them fit.
        return self._calls_made() + self._attempts_per_call > self._credit_cap

    async def run(
        self, plan: BackfillPlan, *, pause_when: Callable[[], bool] | None = None
    ) -> BackfillReport:
        """Cover the plan; on stop, finish the range in flight within the shutdown timeout
        (PublishTimeoutError if Kafka cannot take it by then: its progress is not recorded).

        ``pause_when``: return as soon as it is true (before the next range), without
        counting as an early stop; the CLI uses it to learn the range length first.
        Transient gaps found on the way are asked once more before the run ends."""
        self._pause = pause_when
        watcher = asyncio.create_task(self._arm_deadline_on_stop())
        try:
            for code, segments in plan.segments.items():
                for segment in segments:
                    if not await self._run_segment(code, segment):
                        return self.report
            if pause_when is not None:
                return self.report
            await self._retry_transient_gaps(plan)
            return self.report
        finally:
            watcher.cancel()

    async def _retry_transient_gaps(self, plan: BackfillPlan) -> None:
        again = make_plan(
            coins=list(plan.segments),
            since=plan.since,
            until=plan.until,
            progress=self._progress,
            learner=self._learner,
            only=lambda s: s.refill is not None and s.refill.retried_in_the_same_run,
        )
        if not again.pending_days:
            return
        log.info(
            "asking %d coin-days once more (their answers failed or their close was invalid)",
            again.pending_days,
        )
        for code, segments in again.segments.items():
            for segment in segments:
                if not await self._run_segment(code, segment):
                    return

    async def _arm_deadline_on_stop(self) -> None:
        await self._stop.wait()
        self._deadline.arm(self._shutdown_timeout)

    async def _fetch(self, code: str, window: Range) -> list[dict[str, Any]] | None:
        """The answer for ``window``; None when it failed after every retry (the run goes on,
        the days stay pending). Raises ApiUnavailableError when ranges keep failing."""
        self.report.calls += 1
        self.report.fetched_ranges.append(window)
        try:
            payloads = await self._source.history(
                code, self._currency, window.start_ms, window.end_ms
            )
        except (RetryableApiError, UnexpectedStatusError, MalformedResponseError) as error:
            self.report.ranges_failed += 1
            self._failed_in_a_row += 1
            log.warning(
                "%s %s..%s failed after every retry, left pending: %s",
                code,
                window.first_day,
                window.last_day,
                error,
            )
            if isinstance(error, MalformedResponseError):
                letter = self._dead_letter(code, str(error), error.body)
                await self._publisher.publish(
                    [
                        Record(
                            topic=self._topics.dead_letter,
                            key=code.encode(),
                            value=letter.to_json_bytes(),
                        )
                    ],
                    deadline=self._deadline,
                )
                self.report.dead_letters += 1
            if self._failed_in_a_row >= API_DOWN_AFTER_FAILED_RANGES:
                raise ApiUnavailableError(
                    f"LiveCoinWatch looks down: {self._failed_in_a_row} ranges in a row failed "
                    f"after every retry (last: {error}). Progress is kept; rerun later.",
                    endpoint=error.endpoint,
                ) from None
            return None
        self._failed_in_a_row = 0
        return payloads

    async def _run_segment(self, code: str, segment: Segment) -> bool:
        """Cover ``segment``; False when the run must stop (signal, credits, pause)."""
        state = self._progress.get(code, CoinProgress(None))
        if state.coverage is None:
            # Pin where this coin's history starts before fetching anything (see progress.py).
            pinned = Coverage(segment.first_day, segment.first_day - ONE_DAY)
            state = CoinProgress(pinned, published_through_ms=None)
            await self._record_progress(code, state)
            self._progress[code] = state
        if code in self._lagging and segment.refill is None and not segment.backwards:
            return True  # the API's data ends before this: asking again now would not help
        done = 0
        while done < segment.days:
            if self._stop.is_set():
                self.report.stopped_early = "stopped by signal"
                return False
            if self._pause is not None and self._pause():
                return False
            if self._out_of_credits():
                self.report.stopped_early = "credit allowance for this run spent"
                return False
            window = next_range(code, segment, done, self._learner.next_span())
            try:
                payloads = await self._fetch(code, window)
            except DailyCreditsExhaustedError as error:
                self.report.stopped_early = f"the key's daily credits are exhausted ({error})"
                self.report.credits_exhausted = True
                return False
            if payloads is None:
                await self._accept_failure(code, segment, window)
                done += window.days
                self._advance_bar(code, window, segment)
                continue
            accepted, lagging = await self._judge_and_accept(code, segment, window, payloads)
            if not accepted:
                continue
            done += window.days
            self._advance_bar(code, window, segment)
            if lagging:
                break  # the edge of the API's data: nothing newer to ask in this run
        return True

    def _advance_bar(self, code: str, window: Range, segment: Segment) -> None:
        if segment.refill is None:
            self.report.days_covered += window.days
        if self._bar is not None:
            self._bar.advance(window.days, f"{code} {window.last_day} calls={self.report.calls}")

    async def _accept_failure(self, code: str, segment: Segment, window: Range) -> None:
        """The range's days become pending (nothing of it was published)."""
        state = self._progress[code]
        assert state.coverage is not None
        days = _day_map(state.gaps)
        day = window.first_day
        while day <= window.last_day:
            days[day] = PendingReason.FAILED
            day += ONE_DAY
        coverage = state.coverage
        if segment.refill is None:
            if segment.backwards:
                coverage = Coverage(window.first_day, coverage.last_day)
            else:
                coverage = Coverage(coverage.first_day, max(coverage.last_day, window.last_day))
        state = CoinProgress(
            coverage,
            published_through_ms=state.published_through_ms,
            gaps=_gaps_from_days(days),
            first_point_ms=state.first_point_ms,
        )
        await self._record_progress(code, state)
        self._progress[code] = state

    async def _judge_and_accept(
        self, code: str, segment: Segment, window: Range, payloads: list[dict[str, Any]]
    ) -> tuple[bool, bool]:
        """(accepted, the API's data ended before the range did)."""
        state = self._progress[code]
        assert state.coverage is not None
        messages, dead, invalid_dates = self._validate(code, payloads)
        forward_main = segment.refill is None and not segment.backwards
        history_before = (
            state.first_point_ms is not None and state.first_point_ms <= window.start_ms
        )
        assessment = assess(
            window,
            [m.timestamp_ms for m in messages],
            invalid=invalid_dates,
            at_edge=forward_main and window.last_day == segment.last_day,
            history_before=history_before,
        )
        if assessment.verdict is Verdict.TOO_COARSE:
            self.report.ranges_too_coarse += 1
            if self._learner.record(window.days, fine_enough=False):
                await self._record_range_length()
            log.info(
                "%s %s..%s came back too coarse (spacing %s ms): asking shorter ranges",
                code,
                window.first_day,
                window.last_day,
                assessment.spacing_ms,
            )
            return False, False
        if assessment.spacing_ms is not None and self._learner.record(
            window.days, fine_enough=True
        ):
            await self._record_range_length()
        self.report.ranges_accepted += 1
        self.report.days_before_history += len(assessment.before_history)
        for day, reason in sorted(assessment.pending.items()):
            self.report.days_without_close.append((code, day))
            log.warning("%s %s stays pending: %s", code, day, reason.explanation)
        for day in assessment.lagging:
            self.report.days_lagging.append((code, day))
        if assessment.lagging:
            self._lagging.add(code)
            log.warning(
                "%s: no close yet from %s on, %s; the next run asks again",
                code,
                assessment.lagging[0],
                AFTER_NEWEST_POINT,
            )
        days = _day_map(state.gaps)
        if segment.refill is not None:
            for offset in range(window.days):
                days.pop(window.first_day + ONE_DAY * offset, None)
        days.update(assessment.pending)
        gaps = _gaps_from_days(days)
        if segment.refill is not None:
            await self._accept_refill(code, segment, window, state, messages, dead, gaps)
            return True, False
        if gaps != state.gaps and not segment.backwards:
            # Record the new pending days before the data: if the process dies after the data
            # is acknowledged, the history tail extends the coverage over them (progress.py).
            state = CoinProgress(
                state.coverage,
                published_through_ms=state.published_through_ms,
                gaps=gaps,
                first_point_ms=state.first_point_ms,
            )
            await self._record_progress(code, state)
            self._progress[code] = state
        last_day = window.last_day
        if assessment.lagging:
            last_day = min(assessment.lagging) - ONE_DAY
        state = await self._accept(code, window, last_day, state, messages, dead, gaps)
        self._progress[code] = state
        return True, bool(assessment.lagging)

    async def _publish(
        self, messages: list[HistoricalMessage], dead: list[DeadLetterMessage], code: str
    ) -> None:
        records = [
            Record(topic=self._topics.history, key=code.encode(), value=m.to_json_bytes())
            for m in messages
        ]
        records += [
            Record(topic=self._topics.dead_letter, key=code.encode(), value=d.to_json_bytes())
            for d in dead
        ]
        await self._publisher.publish(records, deadline=self._deadline)
        self.report.points_published += len(messages)
        self.report.dead_letters += len(dead)

    async def _accept_refill(
        self,
        code: str,
        segment: Segment,
        window: Range,
        state: CoinProgress,
        messages: list[HistoricalMessage],
        dead: list[DeadLetterMessage],
        gaps: tuple[Gap, ...],
    ) -> None:
        if segment.refill is PendingReason.FAILED:
            # Nothing of this range was published: every point of it is new.
            fresh = [m for m in messages if window.start_ms < m.timestamp_ms <= window.end_ms]
        else:
            # The other points of these days are on the topic already: only the closes.
            noons = set(window.noons())
            fresh = [m for m in messages if m.timestamp_ms in noons]
        unique = sorted({m.timestamp_ms: m for m in fresh}.values(), key=lambda m: m.timestamp_ms)
        await self._publish(unique, dead, code)
        first_point = state.first_point_ms
        if unique:
            earliest = unique[0].timestamp_ms
            first_point = earliest if first_point is None else min(first_point, earliest)
        state = CoinProgress(
            state.coverage,
            published_through_ms=state.published_through_ms,
            gaps=gaps,
            first_point_ms=first_point,
        )
        await self._record_progress(code, state)
        self._progress[code] = state

    async def _accept(
        self,
        code: str,
        window: Range,
        last_day: dt.date,
        state: CoinProgress,
        messages: list[HistoricalMessage],
        dead: list[DeadLetterMessage],
        gaps: tuple[Gap, ...],
    ) -> CoinProgress:
        assert state.coverage is not None
        floor = window.start_ms
        forward = window.first_day > state.coverage.last_day
        if forward and state.published_through_ms is not None:
            floor = max(floor, state.published_through_ms)
        fresh = sorted(
            (m for m in messages if floor < m.timestamp_ms <= window.end_ms),
            key=lambda m: m.timestamp_ms,
        )
        unique = list({m.timestamp_ms: m for m in fresh}.values())
        await self._publish(unique, dead, code)
        first_point = state.first_point_ms
        if unique:
            earliest = unique[0].timestamp_ms
            first_point = earliest if first_point is None else min(first_point, earliest)
        if forward:
            coverage = Coverage(state.coverage.first_day, max(state.coverage.last_day, last_day))
            newest = unique[-1].timestamp_ms if unique else 0
            published = max(state.published_through_ms or 0, newest, coverage.last_noon_ms)
        else:
            coverage = Coverage(window.first_day, state.coverage.last_day)
            published = state.published_through_ms or state.coverage.last_noon_ms
        # Only now, with the data acknowledged, may the progress say so.
        state = CoinProgress(
            coverage, published_through_ms=published, gaps=gaps, first_point_ms=first_point
        )
        await self._record_progress(code, state)
        return state


@dataclass(frozen=True)
class Estimate:
    """Credits the whole job is expected to cost (what was spent learning included)."""

    calls: int
    span_days: int
    learned: bool

    @property
    def high(self) -> int:
        return math.ceil(self.calls * (1 + ESTIMATE_UNCERTAINTY))

    def describe(self) -> str:
        how = "learned" if self.learned else "not learned yet: an assumption"
        return (
            f"expected credits ~{self.calls} (up to ~{self.high} if a fifth of the calls fail "
            f"and are retried: each failed call costs a credit; range length {self.span_days} "
            f"days, {how})"
        )


def pending_after(plan: BackfillPlan, runner: BackfillRunner) -> Counter[str]:
    """What is left after the run, and why."""
    after = make_plan(
        coins=list(plan.segments),
        since=plan.since,
        until=plan.until,
        progress=runner.progress,
        learner=SpanLearner(1, 1),
    )
    reasons = after.pending_by_reason()
    lagging = min(len(runner.report.days_lagging), reasons[NOT_FETCHED])
    if lagging:
        reasons[NOT_FETCHED] -= lagging
        reasons[AFTER_NEWEST_POINT] += lagging
    return +reasons


async def run_with_estimate(
    runner: BackfillRunner,
    learner: SpanLearner,
    plan: BackfillPlan,
    *,
    allowance: int | None,
    partial: bool,
    calls_made: Callable[[], int],
    say: Callable[[str], None],
    refuse: Callable[[str], None],
) -> tuple[BackfillPlan, Estimate | None, BackfillReport | None]:
    """The backfill of ``plan`` with an honest estimate first.

    An estimate at an unknown range length can be off by the ratio between the guess and the
    truth, so when the length is not known yet (from this API, recorded in Kafka) the run
    first learns it on real, published ranges, and only then estimates the rest. ``allowance``
    is what the key may spend (None: no limit); without ``partial`` a job that does not fit
    is refused (report None) before spending more than the learning."""
    coins = list(plan.segments)

    def replan() -> BackfillPlan:
        return make_plan(
            coins=coins,
            since=plan.since,
            until=plan.until,
            progress=runner.progress,
            learner=learner,
        )

    def refused(needed: int) -> bool:
        if allowance is None or partial or needed <= allowance - calls_made():
            return False
        refuse(
            f"refusing: ~{needed} credits needed but only {allowance - calls_made()} available "
            "today. Rerun with --partial to use what is left (progress is kept; the next run "
            "continues), or wait for the 00:00 UTC reset."
        )
        return True

    if not plan.pending_days:
        await runner.run(plan)
        return plan, Estimate(0, learner.next_span(), learner.converged), runner.report
    if not learner.converged:
        if refused(plan.fewest_calls):
            return plan, None, None
        say(
            f"the API's range length is not known yet: learning it on the first ranges "
            f"(starting at {learner.next_span()} days; their data is kept)"
        )
        await runner.run(plan, pause_when=lambda: learner.converged)
        if runner.report.stopped_early:
            return plan, None, runner.report
        plan = replan()
    estimate = Estimate(calls_made() + plan.expected_calls, learner.next_span(), learner.converged)
    say(estimate.describe())
    if refused(plan.expected_calls):
        return plan, estimate, None
    await runner.run(plan)
    return plan, estimate, runner.report
