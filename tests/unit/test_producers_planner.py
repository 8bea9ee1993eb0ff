"""Backfill range planner: pending days, range lengths, and what an answer is worth."""

from __future__ import annotations

import datetime as dt

import pytest

from producers.clock import DAY_MS, HOUR_MS, noon_ms
from producers.planner import (
    Coverage,
    PendingReason,
    Range,
    Segment,
    SpanLearner,
    Verdict,
    assess,
    last_closable_day,
    next_range,
    pending_segments,
    point_spacing,
)

D = dt.date


def test_today_is_not_closable_before_noon_plus_settle() -> None:
    today = D(2025, 6, 1)
    assert last_closable_day(noon_ms(today) - 1, 15) == D(2025, 5, 31)
    assert last_closable_day(noon_ms(today) + 14 * 60_000, 15) == D(2025, 5, 31)
    assert last_closable_day(noon_ms(today) + 15 * 60_000, 15) == today


def test_pending_segments_without_progress() -> None:
    assert pending_segments(D(2024, 1, 1), D(2024, 1, 10), None) == [
        Segment(D(2024, 1, 1), D(2024, 1, 10))
    ]


def test_pending_segments_around_existing_coverage() -> None:
    coverage = Coverage(D(2024, 3, 1), D(2024, 6, 30))
    assert pending_segments(D(2024, 1, 1), D(2024, 12, 31), coverage) == [
        Segment(D(2024, 1, 1), D(2024, 2, 29), backwards=True),
        Segment(D(2024, 7, 1), D(2024, 12, 31)),
    ]
    assert pending_segments(D(2024, 3, 1), D(2024, 6, 30), coverage) == []


def test_pinned_empty_coverage_resumes_from_its_start() -> None:
    pinned = Coverage(D(2024, 1, 1), D(2023, 12, 31))
    assert pinned.empty
    assert pending_segments(D(2024, 1, 1), D(2024, 1, 5), pinned) == [
        Segment(D(2024, 1, 1), D(2024, 1, 5))
    ]


def test_ranges_share_their_end_points_so_the_series_is_contiguous() -> None:
    segment = Segment(D(2024, 1, 1), D(2024, 1, 10))
    first = next_range("BTC", segment, 0, 4)
    second = next_range("BTC", segment, 4, 4)
    last = next_range("BTC", segment, 8, 4)
    assert (first.first_day, first.last_day) == (D(2024, 1, 1), D(2024, 1, 4))
    assert second.start_ms == first.end_ms
    assert (last.first_day, last.last_day) == (D(2024, 1, 9), D(2024, 1, 10))
    assert first.start_ms == noon_ms(D(2023, 12, 31))


def test_backwards_segments_are_fetched_newest_first() -> None:
    segment = Segment(D(2024, 1, 1), D(2024, 1, 10), backwards=True)
    assert next_range("BTC", segment, 0, 4) == Range("BTC", D(2024, 1, 7), D(2024, 1, 10))
    assert next_range("BTC", segment, 8, 4) == Range("BTC", D(2024, 1, 1), D(2024, 1, 2))


def test_learner_doubles_then_bisects_to_the_longest_good_span() -> None:
    learner = SpanLearner(initial_days=30, max_days=365)
    threshold = 91  # ranges of up to 91 closes (90 days) stay fine enough
    tried = []
    for _ in range(20):
        span = learner.next_span()
        tried.append(span)
        learner.record(span, fine_enough=span <= threshold)
    assert learner.next_span() == threshold
    wasted = sum(1 for s in tried if s > threshold)
    assert wasted <= 6


def test_learner_never_exceeds_its_maximum() -> None:
    learner = SpanLearner(initial_days=100, max_days=150)
    learner.record(100, fine_enough=True)
    assert learner.next_span() == 150


def test_spacing_is_the_most_common_gap() -> None:
    assert point_spacing([0, HOUR_MS, 2 * HOUR_MS, 5 * HOUR_MS]) == HOUR_MS
    assert point_spacing([5]) is None


def hourly(window: Range) -> list[int]:
    return list(range(window.start_ms, window.end_ms + 1, HOUR_MS))


def test_hourly_points_complete_the_range() -> None:
    window = Range("BTC", D(2024, 1, 1), D(2024, 3, 1))
    assert assess(window, hourly(window)).verdict is Verdict.COMPLETE


def test_daily_points_at_midnight_are_too_coarse() -> None:
    window = Range("BTC", D(2024, 1, 1), D(2024, 12, 31))
    midnights = list(range(window.start_ms + 12 * HOUR_MS, window.end_ms, DAY_MS))
    result = assess(window, midnights)
    assert result.verdict is Verdict.TOO_COARSE
    assert result.spacing_ms == DAY_MS


def test_daily_points_at_noon_are_complete() -> None:
    window = Range("BTC", D(2024, 1, 1), D(2024, 12, 31))
    assert assess(window, window.noons()).verdict is Verdict.COMPLETE


def test_a_hole_in_fine_data_is_a_gap_not_a_reason_to_shrink() -> None:
    window = Range("BTC", D(2024, 1, 1), D(2024, 1, 10))
    missing = noon_ms(D(2024, 1, 5))
    result = assess(window, [t for t in hourly(window) if t != missing])
    assert result.verdict is Verdict.GAPS
    assert result.missing_days == (D(2024, 1, 5),)


def test_a_coin_listed_mid_range_leaves_earlier_days_as_gaps() -> None:
    window = Range("NEW", D(2024, 1, 1), D(2024, 1, 10))
    listed = noon_ms(D(2024, 1, 4)) + HOUR_MS
    result = assess(window, [t for t in hourly(window) if t >= listed])
    assert result.verdict is Verdict.GAPS
    assert result.missing_days == (D(2024, 1, 1), D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4))


def test_empty_answer_is_all_gaps() -> None:
    window = Range("NEW", D(2024, 1, 1), D(2024, 1, 3))
    assert assess(window, []).verdict is Verdict.GAPS


@pytest.mark.parametrize("offset_hours", [1, 3])
def test_a_grid_that_misses_noon_is_too_coarse(offset_hours: int) -> None:
    window = Range("BTC", D(2024, 1, 1), D(2024, 1, 20))
    points = list(range(window.start_ms + offset_hours * HOUR_MS, window.end_ms, 2 * HOUR_MS))
    assert assess(window, points).verdict is Verdict.TOO_COARSE


def test_days_after_the_apis_newest_point_lag_at_the_edge_only() -> None:
    window = Range("BTC", D(2024, 1, 1), D(2024, 1, 10))
    newest = noon_ms(D(2024, 1, 8)) + 5 * HOUR_MS
    points = [t for t in hourly(window) if t <= newest]
    at_edge = assess(window, points, at_edge=True, history_before=True)
    assert at_edge.verdict is Verdict.GAPS
    assert at_edge.lagging == (D(2024, 1, 9), D(2024, 1, 10))
    assert at_edge.pending == {}
    # Inside the history the same hole is a gap to ask again, never a done day.
    inside = assess(window, points, at_edge=False, history_before=True)
    assert inside.lagging == ()
    assert inside.pending == {
        D(2024, 1, 9): PendingReason.NO_CLOSE,
        D(2024, 1, 10): PendingReason.NO_CLOSE,
    }


def test_an_invalid_close_is_pending_not_done() -> None:
    window = Range("BTC", D(2024, 1, 1), D(2024, 1, 10))
    bad = noon_ms(D(2024, 1, 5))
    result = assess(
        window, [t for t in hourly(window) if t != bad], invalid=[bad], history_before=True
    )
    assert result.verdict is Verdict.GAPS
    assert result.pending == {D(2024, 1, 5): PendingReason.INVALID_CLOSE}


def test_days_before_a_coins_first_point_are_not_pending() -> None:
    window = Range("NEW", D(2024, 1, 1), D(2024, 1, 10))
    listed = noon_ms(D(2024, 1, 4)) + HOUR_MS
    points = [t for t in hourly(window) if t >= listed]
    fresh = assess(window, points, history_before=False)
    assert fresh.before_history == (D(2024, 1, 1), D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4))
    assert fresh.pending == {}
    known = assess(window, points, history_before=True)
    assert set(known.pending) == {D(2024, 1, 1), D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4)}


def test_learned_knowledge_restores_a_converged_learner() -> None:
    learner = SpanLearner(30, 365, good_days=90, bad_days=91)
    assert learner.converged
    assert learner.next_span() == 90
    capped = SpanLearner(30, 60, good_days=90, bad_days=91)
    assert capped.next_span() == 60
    assert not SpanLearner(30, 365, good_days=90).converged
