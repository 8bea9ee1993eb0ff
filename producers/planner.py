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


def backfill_start(configured: dt.date, earliest_transaction: dt.date | None) -> dt.date:
    """The first day to backfill: the configured one, or earlier for a portfolio transaction.

    One day before the earliest transaction, so a "market" price early that day finds the
    previous day's 12:00 UTC point."""
    if earliest_transaction is None:
        return configured
    return min(configured, earliest_transaction - ONE_DAY)


def day_count(first: dt.date, last: dt.date) -> int:
    return max(0, (last - first).days + 1)


@dataclass(frozen=True)
class Segment:
    """Consecutive pending days; ``backwards`` segments are fetched newest chunk first so the
    coverage stays one contiguous interval after every acknowledged range."""

    first_day: dt.date
    last_day: dt.date
    backwards: bool = False

    @property
    def days(self) -> int:
        return day_count(self.first_day, self.last_day)


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
    good and the shortest bad length. Shared by all coins of a run: one discovery, not ten.
    """

    def __init__(self, initial_days: int, max_days: int) -> None:
        self.initial_days = max(1, initial_days)
        self.max_days = max(self.initial_days, max_days)
        self.good_days = 0
        self.bad_days: int | None = None

    def next_span(self) -> int:
        if self.bad_days is None:
            if self.good_days == 0:
                return self.initial_days
            return min(self.max_days, self.good_days * 2)
        if self.bad_days - self.good_days <= 1:
            return max(1, self.good_days)
        return (self.good_days + self.bad_days) // 2

    def record(self, days: int, fine_enough: bool) -> None:
        if fine_enough:
            self.good_days = max(self.good_days, days)
            if self.bad_days is not None and self.bad_days <= self.good_days:
                # The rule changed under us (or depends on dates): forget the bad bound.
                self.bad_days = None
        else:
            self.bad_days = days if self.bad_days is None else min(self.bad_days, days)
            if self.good_days >= days:
                self.good_days = max(0, days - 1)

    def expected_calls(self, days: int) -> int:
        """Calls for ``days`` consecutive days at the current best guess of the span."""
        return math.ceil(days / max(1, self.next_span())) if days else 0


class Verdict(Enum):
    COMPLETE = "complete"  # every day of the range has its 12:00 point
    GAPS = "gaps"  # fine enough, but the API has no point for some days (e.g. before listing)
    TOO_COARSE = "too_coarse"  # thinned: points do not fall on 12:00 UTC; ask shorter


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    spacing_ms: int | None
    missing_days: tuple[dt.date, ...]


def point_spacing(timestamps: Sequence[int]) -> int | None:
    """The most common gap between consecutive points, or None with fewer than two points."""
    ordered = sorted(set(timestamps))
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    if not gaps:
        return None
    return Counter(gaps).most_common(1)[0][0]


def assess(window: Range, timestamps: Sequence[int]) -> Assessment:
    """Decide what an answer for ``window`` is worth."""
    present = set(timestamps)
    missing = [noon for noon in window.noons() if noon not in present]
    spacing = point_spacing(timestamps)
    if not missing:
        return Assessment(Verdict.COMPLETE, spacing, ())
    missing_days = tuple(utc_day(noon) for noon in missing)
    if not present:
        # Nothing at all: the coin has no data in this period (not listed yet).
        return Assessment(Verdict.GAPS, None, missing_days)
    if spacing is None:
        # A single point that is not every noon of the range: cannot tell; ask shorter.
        verdict = Verdict.GAPS if window.days == 1 else Verdict.TOO_COARSE
        return Assessment(verdict, None, missing_days)
    first, last = min(present), max(present)

    def on_grid(noon: int) -> bool:
        # A noon outside the returned points' extent is a hole in the data (coin listed
        # later, delisted); inside it, the grid decides whether 12:00 could have been sent.
        return noon < first or noon > last or (noon - first) % spacing == 0

    if spacing <= DAY_MS and all(on_grid(noon) for noon in missing):
        return Assessment(Verdict.GAPS, spacing, missing_days)
    if window.days == 1:
        return Assessment(Verdict.GAPS, spacing, missing_days)
    return Assessment(Verdict.TOO_COARSE, spacing, missing_days)
