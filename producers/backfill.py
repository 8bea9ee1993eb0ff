"""``coins backfill``: history per coin into the history topic, budget-aware and resumable.

For each coin, the pending days (outside what Kafka already holds) are fetched in multi-day
ranges whose length the planner learns; each accepted range is published, acknowledged, and
only then recorded in the compacted progress topic. A crash at any point loses at most the
range in flight, and a rerun starts exactly where the acknowledged data ends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from producers.clock import Clock
from producers.history_sources import HistorySource
from producers.models import (
    ApiHistoryPoint,
    BackfillProgressMessage,
    DeadLetterMessage,
    HistoricalMessage,
    describe_validation_error,
    raw_json,
)
from producers.planner import (
    ONE_DAY,
    Coverage,
    Range,
    Segment,
    SpanLearner,
    Verdict,
    assess,
    next_range,
    pending_segments,
)
from producers.progress import CoinProgress
from producers.progress_bar import ProgressBar
from producers.publisher import Deadline, Publisher, Record

log = logging.getLogger("producers.backfill")


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

    @property
    def pending_days(self) -> int:
        return sum(s.days for segments in self.segments.values() for s in segments)

    @property
    def one_call_per_day_cost(self) -> int:
        return self.pending_days


@dataclass
class BackfillReport:
    calls: int = 0
    ranges_accepted: int = 0
    ranges_too_coarse: int = 0
    days_covered: int = 0
    days_without_close: list[tuple[str, dt.date]] = field(default_factory=list)
    points_published: int = 0
    dead_letters: int = 0
    stopped_early: str | None = None
    fetched_ranges: list[Range] = field(default_factory=list)


def make_plan(
    *,
    coins: Sequence[str],
    since: dt.date,
    until: dt.date,
    progress: dict[str, CoinProgress],
    learner: SpanLearner,
) -> BackfillPlan:
    segments = {
        code: pending_segments(since, until, progress.get(code, CoinProgress(None)).coverage)
        for code in coins
    }
    expected = sum(learner.expected_calls(s.days) for segs in segments.values() for s in segs)
    if expected:
        # Discovering the granularity costs a few discarded ranges (about log2 of the span).
        expected += max(1, learner.max_days.bit_length() // 2)
    return BackfillPlan(since=since, until=until, segments=segments, expected_calls=expected)


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
        self._deadline = Deadline()
        self.report = BackfillReport()

    # --- publishing ----------------------------------------------------------------------
    async def _record_progress(self, code: str, coverage: Coverage) -> None:
        message = BackfillProgressMessage(
            code=code,
            currency=self._currency,
            done_from_ms=coverage.first_noon_ms,
            done_through_ms=coverage.last_noon_ms,
            updated_at_ms=self._clock.now_ms(),
        )
        record = Record(
            topic=self._topics.progress,
            key=BackfillProgressMessage.key_for(code, self._currency),
            value=message.to_json_bytes(),
        )
        await self._publisher.publish([record], deadline=self._deadline)

    def _validate(
        self, code: str, payloads: list[dict[str, Any]]
    ) -> tuple[list[HistoricalMessage], list[DeadLetterMessage]]:
        good: list[HistoricalMessage] = []
        bad: list[DeadLetterMessage] = []
        for payload in payloads:
            try:
                point = ApiHistoryPoint.model_validate(payload)
            except ValidationError as error:
                bad.append(
                    DeadLetterMessage(
                        source=self._source.name,
                        intended_topic=self._topics.history,
                        code=code,
                        error=describe_validation_error(error),
                        raw=raw_json(payload.get("_raw", payload)),
                        failed_at_ms=self._clock.now_ms(),
                    )
                )
                continue
            good.append(
                HistoricalMessage.from_api(
                    point, code=code, source=self._source.name, currency=self._currency
                )
            )
        return good, bad

    # --- the loop ------------------------------------------------------------------------
    def _out_of_credits(self) -> bool:
        if self._credit_cap is None or self._calls_made is None:
            return False
        # A call may cost every attempt of the retry policy: start it only if all of them fit.
        return self._calls_made() + self._attempts_per_call > self._credit_cap

    async def run(self, plan: BackfillPlan) -> BackfillReport:
        """Cover the plan; on stop, finish the range in flight within the shutdown timeout
        (PublishTimeoutError if Kafka cannot take it by then: its progress is not recorded)."""
        watcher = asyncio.create_task(self._arm_deadline_on_stop())
        try:
            for code, segments in plan.segments.items():
                for segment in segments:
                    if not await self._run_segment(code, segment):
                        return self.report
            return self.report
        finally:
            watcher.cancel()

    async def _arm_deadline_on_stop(self) -> None:
        await self._stop.wait()
        self._deadline.at_ms = self._clock.now_ms() + int(self._shutdown_timeout * 1000)

    async def _run_segment(self, code: str, segment: Segment) -> bool:
        """Cover ``segment``; False when the run must stop (signal or credits)."""
        state = self._progress.get(code, CoinProgress(None))
        if state.coverage is None:
            # Pin where this coin's history starts before fetching anything (see progress.py).
            pinned = Coverage(segment.first_day, segment.first_day - ONE_DAY)
            await self._record_progress(code, pinned)
            state = CoinProgress(pinned, published_through_ms=None)
            self._progress[code] = state
        done = 0
        while done < segment.days:
            if self._stop.is_set():
                self.report.stopped_early = "stopped by signal"
                return False
            if self._out_of_credits():
                self.report.stopped_early = "credit allowance for this run spent"
                return False
            window = next_range(code, segment, done, self._learner.next_span())
            payloads = await self._source.history(
                code, self._currency, window.start_ms, window.end_ms
            )
            self.report.calls += 1
            self.report.fetched_ranges.append(window)
            messages, dead = self._validate(code, payloads)
            assessment = assess(window, [m.timestamp_ms for m in messages])
            if assessment.verdict is Verdict.TOO_COARSE:
                self.report.ranges_too_coarse += 1
                self._learner.record(window.days, fine_enough=False)
                log.info(
                    "%s %s..%s came back too coarse (spacing %s ms): asking shorter ranges",
                    code,
                    window.first_day,
                    window.last_day,
                    assessment.spacing_ms,
                )
                continue
            if assessment.spacing_ms is not None:
                self._learner.record(window.days, fine_enough=True)
            state = await self._accept(code, window, state, messages, dead)
            self._progress[code] = state
            for day in assessment.missing_days:
                self.report.days_without_close.append((code, day))
                log.warning("%s has no 12:00 UTC point on %s in the API's history", code, day)
            done += window.days
            self.report.ranges_accepted += 1
            self.report.days_covered += window.days
            if self._bar is not None:
                self._bar.advance(
                    window.days, f"{code} {window.last_day} calls={self.report.calls}"
                )
        return True

    async def _accept(
        self,
        code: str,
        window: Range,
        state: CoinProgress,
        messages: list[HistoricalMessage],
        dead: list[DeadLetterMessage],
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
        records = [
            Record(topic=self._topics.history, key=code.encode(), value=m.to_json_bytes())
            for m in unique
        ]
        records += [
            Record(topic=self._topics.dead_letter, key=code.encode(), value=d.to_json_bytes())
            for d in dead
        ]
        await self._publisher.publish(records, deadline=self._deadline)
        self.report.points_published += len(unique)
        self.report.dead_letters += len(dead)
        if forward:
            coverage = Coverage(state.coverage.first_day, window.last_day)
            published = max(state.published_through_ms or 0, window.end_ms)
        else:
            coverage = Coverage(window.first_day, state.coverage.last_day)
            published = state.published_through_ms or state.coverage.last_noon_ms
        # Only now, with the data acknowledged, may the progress say so.
        await self._record_progress(code, coverage)
        return CoinProgress(coverage, published_through_ms=published)
