"""Backfill range planning: which days a coin still needs, how long a range to ask for, and
whether an answer gave every day its 12:00 UTC close.

The API thins long ranges by rules it does not document. So the planner asks for multi-day
ranges, reads the spacing of the returned points, and learns the longest range whose points
still fall on 12:00 UTC; a range that comes back too coarse is discarded and asked again
shorter. Pure logic, no I/O: the tests drive it directly.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from producers.clock import DAY_MS, noon_ms, utc_day

ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Coverage:
    """Days whose close is published and acknowledged: ``first_day..last_day`` inclusive.

    ``last_day == first_day - 1`` is an empty coverage that only pins where a coin's history
    starts, so a crash during its very first range can still be resumed from the topic."""

    first_day: dt.date
    last_day: dt.date

    @property
    def empty(self) -> bool:
        return self.last_day < self.first_day

    @property
    def first_noon_ms(self) -> int:
        return noon_ms(self.first_day)

    @property
    def last_noon_ms(self) -> int:
        return noon_ms(self.last_day)


def last_closable_day(now_ms: int, settle_minutes: int) -> dt.date:
    """The latest day whose 12:00 UTC close exists: today only once 12:00 (+ settle) passed."""
    today = utc_day(now_ms)
    if now_ms >= noon_ms(today) + settle_minutes * 60_000:
        return today
    return today - ONE_DAY


def day_count(first: dt.date, last: dt.date) -> int:
    return max(0, (last - first).days + 1)


class PendingReason(Enum):
    """Why a day inside the fetched history still has no published close."""

    FAILED = "failed"  # the answer failed after every retry (a malformed one is dead-lettered)
    INVALID_CLOSE = "invalid_close"  # the 12:00 UTC point was invalid (dead-lettered)
    NO_CLOSE = "no_close"  # the answer is fine but holds no 12:00 UTC point for the day

    @property
    def explanation(self) -> str:
        return PENDING_EXPLANATIONS[self]

    @property
    def retried_in_the_same_run(self) -> bool:
        """Transient causes are tried once more before the run ends; a hole in the API's
        data is only asked again by the next run."""
        return self is not PendingReason.NO_CLOSE


PENDING_EXPLANATIONS = {
    PendingReason.FAILED: "the API's answer failed after every retry",
    PendingReason.INVALID_CLOSE: "the 12:00 UTC point was invalid (dead-lettered)",
    PendingReason.NO_CLOSE: "the API's answer had no 12:00 UTC point",
}


@dataclass(frozen=True)
class Gap:
    """Days inside a coin's coverage whose close is not published yet: pending."""

    first_day: dt.date
    last_day: dt.date
    reason: PendingReason

    @property
    def days(self) -> int:
        return day_count(self.first_day, self.last_day)


@dataclass(frozen=True)
class Segment:
    """Consecutive pending days; ``backwards`` segments are fetched newest chunk first so the
    coverage stays one contiguous interval after every acknowledged range. A ``refill``
    segment re-asks days inside the coverage (a gap) and says why they are pending."""

    first_day: dt.date
    last_day: dt.date
    backwards: bool = False
    refill: PendingReason | None = None

    @property
    def days(self) -> int:
        return day_count(self.first_day, self.last_day)


def gap_segments(
    since: dt.date, until: dt.date, coverage: Coverage | None, gaps: Sequence[Gap]
) -> list[Segment]:
    """The gaps that lie inside both the coverage and [since, until], as refill segments.
    (A gap beyond the coverage is recorded before its range's data: the main segment
    covers it.)"""
    if coverage is None or coverage.empty:
        return []
    low, high = max(since, coverage.first_day), min(until, coverage.last_day)
    segments = []
    for gap in sorted(gaps, key=lambda g: g.first_day):
        first, last = max(low, gap.first_day), min(high, gap.last_day)
        if first <= last:
            segments.append(Segment(first, last, refill=gap.reason))
    return segments


def pending_segments(since: dt.date, until: dt.date, coverage: Coverage | None) -> list[Segment]:
    if until < since:
        return []
    if coverage is None:
        return [Segment(since, until)]
    segments = []
    if coverage.empty:
        # Only the start is pinned: cover forwards from it, and backwards if asked for earlier.
        if since < coverage.first_day:
            segments.append(Segment(since, min(until, coverage.first_day - ONE_DAY), True))
        if until >= coverage.first_day:
            segments.append(Segment(max(since, coverage.first_day), until))
        return segments
    if since < coverage.first_day:
        segments.append(Segment(since, min(until, coverage.first_day - ONE_DAY), backwards=True))
    if until > coverage.last_day:
        segments.append(Segment(max(since, coverage.last_day + ONE_DAY), until))
    return segments


@dataclass(frozen=True)
class Range:
    code: str
    first_day: dt.date
    last_day: dt.date

    @property
    def days(self) -> int:
        return day_count(self.first_day, self.last_day)

    @property
    def start_ms(self) -> int:
        # From the previous day's close: consecutive ranges share an end point, so the
        # published series has no hole between them (the shared point is published once).
        return noon_ms(self.first_day - ONE_DAY)

    @property
    def end_ms(self) -> int:
        return noon_ms(self.last_day)

    def noons(self) -> list[int]:
        return [noon_ms(self.first_day + ONE_DAY * i) for i in range(self.days)]


def next_range(code: str, segment: Segment, done: int, span_days: int) -> Range:
    """The next range of ``segment`` after ``done`` of its days were covered."""
    span_days = max(1, span_days)
    if segment.backwards:
        last = segment.last_day - ONE_DAY * done
        first = max(segment.first_day, last - ONE_DAY * (span_days - 1))
    else:
        first = segment.first_day + ONE_DAY * done
        last = min(segment.last_day, first + ONE_DAY * (span_days - 1))
    return Range(code, first, last)


class SpanLearner:
    """Learns the longest range (in days) whose answer keeps a point at every 12:00 UTC.

    Grows by doubling until a range comes back too coarse, then bisects between the longest
    good and the shortest bad length. Shared by all coins of a run: one discovery, not ten;
    and kept in Kafka (``producers.progress``) so the next run starts from what was learned.
    """

    def __init__(
        self, initial_days: int, max_days: int, *, good_days: int = 0, bad_days: int | None = None
    ) -> None:
        self.initial_days = max(1, initial_days)
        self.max_days = max(self.initial_days, max_days)
        self.good_days = max(0, good_days)
        self.bad_days = bad_days if bad_days is None or bad_days > self.good_days else None

    def next_span(self) -> int:
        if self.bad_days is None:
            if self.good_days == 0:
                return self.initial_days
            return min(self.max_days, self.good_days * 2)
        if self.bad_days - self.good_days <= 1:
            return min(self.max_days, max(1, self.good_days))
        return min(self.max_days, (self.good_days + self.bad_days) // 2)

    @property
    def converged(self) -> bool:
        """True once more probing cannot lengthen the range (the estimate is then firm)."""
        if self.good_days >= self.max_days:
            return True
        return (
            self.good_days > 0 and self.bad_days is not None and self.bad_days - self.good_days <= 1
        )

    def record(self, days: int, fine_enough: bool) -> bool:
        """Take one judged answer into account; True when the knowledge changed."""
        before = (self.good_days, self.bad_days)
        if fine_enough:
            self.good_days = max(self.good_days, days)
            if self.bad_days is not None and self.bad_days <= self.good_days:
                # The rule changed under us (or depends on dates): forget the bad bound.
                self.bad_days = None
        else:
            self.bad_days = days if self.bad_days is None else min(self.bad_days, days)
            if self.good_days >= days:
                self.good_days = max(0, days - 1)
        return (self.good_days, self.bad_days) != before

    def expected_calls(self, days: int) -> int:
        """Calls for ``days`` consecutive days at the current best guess of the span."""
        return math.ceil(days / max(1, self.next_span())) if days else 0


class Verdict(Enum):
    COMPLETE = "complete"  # every day of the range has its 12:00 point
    GAPS = "gaps"  # fine enough, but some days have no (valid) 12:00 point
    TOO_COARSE = "too_coarse"  # thinned: points do not fall on 12:00 UTC; ask shorter


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    spacing_ms: int | None
    # Days without a valid close, by cause. ``lagging``: after the API's newest point at the
    # edge of its data (not covered: the next run asks again); ``before_history``: before
    # the coin's first point (it was not listed yet: covered, nothing to ask).
    pending: dict[dt.date, PendingReason]
    lagging: tuple[dt.date, ...] = ()
    before_history: tuple[dt.date, ...] = ()

    @property
    def missing_days(self) -> tuple[dt.date, ...]:
        return tuple(sorted((*self.pending, *self.lagging, *self.before_history)))


def point_spacing(timestamps: Sequence[int]) -> int | None:
    """The most common gap between consecutive points, or None with fewer than two points."""
    ordered = sorted(set(timestamps))
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    if not gaps:
        return None
    return Counter(gaps).most_common(1)[0][0]


def assess(
    window: Range,
    timestamps: Sequence[int],
    *,
    invalid: Sequence[int] = (),
    at_edge: bool = False,
    history_before: bool = False,
) -> Assessment:
    """Decide what an answer for ``window`` is worth.

    ``timestamps`` are the valid points, ``invalid`` those that failed validation (they
    still show the answer's grid, but their day has no close). ``at_edge``: the range ends
    the pending days (the API's newest data may lag behind it). ``history_before``: the coin
    has published points before this range, so a missing leading day is a hole in the data,
    not a day before the coin was listed.
    """
    present = set(timestamps)
    noons = window.noons()
    missing = [noon for noon in noons if noon not in present]
    seen = present | set(invalid)
    spacing = point_spacing(sorted(seen))
    if not missing:
        return Assessment(Verdict.COMPLETE, spacing, {})
    verdict = Verdict.GAPS
    if seen and spacing is None:
        # A single point that is not every noon of the range: cannot tell; ask shorter.
        verdict = Verdict.GAPS if window.days == 1 else Verdict.TOO_COARSE
    elif seen and spacing is not None:
        first, last = min(seen), max(seen)

        def on_grid(noon: int) -> bool:
            # A noon outside the returned points' extent is a hole in the data (listed later,
            # lagging); inside it, the grid decides whether 12:00 could have been sent.
            return noon < first or noon > last or (noon - first) % spacing == 0

        fine = spacing <= DAY_MS and all(on_grid(noon) for noon in missing)
        if not fine and window.days > 1:
            verdict = Verdict.TOO_COARSE
    if verdict is Verdict.TOO_COARSE:
        return Assessment(verdict, spacing, {})
    first_seen = min(seen) if seen else None
    last_seen = max(seen) if seen else None
    pending: dict[dt.date, PendingReason] = {}
    lagging: list[dt.date] = []
    before: list[dt.date] = []
    for noon in missing:
        day = utc_day(noon)
        if noon in invalid:
            pending[day] = PendingReason.INVALID_CLOSE
        elif at_edge and (last_seen is None or noon > last_seen):
            lagging.append(day)
        elif not history_before and (first_seen is None or noon < first_seen):
            before.append(day)
        else:
            pending[day] = PendingReason.NO_CLOSE
    return Assessment(verdict, spacing, pending, tuple(lagging), tuple(before))
