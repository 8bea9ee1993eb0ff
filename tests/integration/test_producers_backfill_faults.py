"""``coins backfill`` (the real command, in a subprocess) against a faulty LiveCoinWatch and
the real Kafka broker: malformed answers, an API that is down, a lagging newest point, an
invalid close, the estimate, the learned range length, and a burst limit.

Every fault comes from the fake's public hooks (tests/support/fake_livecoinwatch.py); the
behaviour expected of the backfill is derived from docs/reference (livecoinwatch-api.md): a
truncated 200 is retried like a transient failure, 429 with ``Retry-After`` is a burst limit,
the API's history may end before today's 12:00 UTC.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from producers.clock import DAY_MS, HOUR_MS, SystemClock, noon_ms
from producers.kafka.connection import KafkaConnection
from producers.kafka.reader import read_topic
from producers.models import RangeLengthMessage
from producers.planner import last_closable_day
from tests.support.commands import COINS_CLI, run_command
from tests.support.fake_livecoinwatch import (
    FakeLiveCoinWatch,
    benchmark_granularity,
    hourly_granularity,
)
from tests.support.producers_kafka import (
    assert_every_close_once,
    daily_closes,
    every_close,
    producer_env,
)

COINS = ("BTC", "ETH", "SOL")
ATTEMPTS = 3


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


class Backfill:
    """Runs ``coins backfill`` on its own topics against ``base_url``."""

    def __init__(
        self,
        bootstrap: str,
        unique_name: Callable[[str], str],
        fake: FakeLiveCoinWatch,
        base_url: str,
        cwd: Path,
        span_days: int | None = None,
        **extra: str,
    ) -> None:
        """``span_days``: the length of every range asked (initial and maximum)."""
        if span_days is not None:
            spans = ("COINS_BACKFILL_INITIAL_SPAN_DAYS", "COINS_BACKFILL_MAX_SPAN_DAYS")
            extra = {**dict.fromkeys(spans, str(span_days)), **extra}
        self.bootstrap = bootstrap
        self.cwd = cwd
        variables = {
            "COINS_LCW_API_KEY": fake.api_key,
            "COINS_LCW_BASE_URL": base_url,
            "COINS_COINS": ",".join(COINS),
            "COINS_RETRY_ATTEMPTS": str(ATTEMPTS),
            "COINS_RETRY_INITIAL_SECONDS": "0.01",
            "COINS_RETRY_MAX_SECONDS": "0.05",
            "COINS_BACKFILL_CALLS_PER_SECOND": "200",
        }
        self.env = producer_env(bootstrap, unique_name, **{**variables, **extra})

    def __call__(self, *args: str) -> Run:
        done = run_command([*COINS_CLI, "backfill", *args], env=self.env, cwd=self.cwd, timeout=240)
        return Run(done.returncode, done.stdout, done.stderr)

    def topic(self, name: str) -> list[dict[str, object]]:
        records = asyncio.run(read_topic(KafkaConnection(self.bootstrap), self.env[name]))
        return [json.loads(r.value or b"") for r in records]

    def closes(self) -> Counter[tuple[str, int]]:
        return daily_closes(self.topic("COINS_TOPIC_HISTORICAL"))


def pending_line(stdout: str) -> str:
    (line,) = [x for x in stdout.splitlines() if x.startswith("backfill done:")]
    return line


def test_malformed_answers_are_retried_dead_lettered_and_left_pending(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    since, until = dt.date(2024, 1, 1), dt.date(2024, 3, 31)
    fake = FakeLiveCoinWatch(granularity=hourly_granularity)
    # BTC's first range answers a truncated 200 on every attempt, also when the run asks it
    # again before it ends: it must stay pending, not stop the run.
    first_range = noon_ms(since - dt.timedelta(days=1))

    def is_first_range(body: dict[str, object]) -> bool:
        return body["code"] == "BTC" and body["start"] == first_range

    fake.fail_next("malformed", times=1000, endpoint="/coins/single/history", when=is_first_range)
    with fake.serve() as base_url:
        backfill = Backfill(kafka_bootstrap, unique_name, fake, base_url, tmp_path, span_days=30)
        first = backfill("--since", since.isoformat(), "--until", until.isoformat())
        assert first.code == 0, first.stderr
        assert "30 the API's answer failed after every retry" in pending_line(first.stdout)
        dead = backfill.topic("COINS_TOPIC_DEAD_LETTER")
        tries = len([c for c in fake.calls if c.body and is_first_range(c.body)]) // ATTEMPTS
        assert tries >= 2, "asked again before the run ended"
        assert len(dead) == tries, "the last malformed body of each failed try is kept"
        assert all(d["intended_topic"] == backfill.env["COINS_TOPIC_HISTORICAL"] for d in dead)
        assert all(str(d["raw"]).startswith('{"code"') for d in dead)
        assert all("not JSON" in str(d["error"]) for d in dead)
        # Everything else of the run was done.
        missing = every_close(COINS, since, until) - set(backfill.closes())
        assert missing == {("BTC", noon_ms(since + dt.timedelta(days=i))) for i in range(30)}
        fake.faults.clear()
        second = backfill("--since", since.isoformat(), "--until", until.isoformat())
        assert second.code == 0, second.stderr
        assert "30 coin-days pending (30 the API's answer failed" in second.stdout
        assert "0 coin-days pending" in pending_line(second.stdout)
    assert_every_close_once(backfill.closes(), COINS, since, until)


def test_exit_1_only_when_the_api_is_really_down(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    fake = FakeLiveCoinWatch(granularity=hourly_granularity)
    fake.fail_next(503, times=10_000, endpoint="/coins/single/history")
    with fake.serve() as base_url:
        backfill = Backfill(kafka_bootstrap, unique_name, fake, base_url, tmp_path)
        run = backfill("--since", "2024-01-01", "--until", "2024-12-31")
    assert run.code == 1, run.stderr
    assert "LiveCoinWatch looks down: 3 ranges in a row failed" in run.stderr
    # Three ranges, each with every attempt of the retry policy; then it stops calling.
    assert len(fake.calls_to("/coins/single/history")) == 3 * ATTEMPTS


def test_a_close_missing_at_the_api_edge_or_invalid_stays_pending(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    now = SystemClock().now_ms()
    until = last_closable_day(now, 15)
    since = until - dt.timedelta(days=9)
    invalid_day = since + dt.timedelta(days=4)
    fake = FakeLiveCoinWatch(granularity=hourly_granularity)
    # The API's newest point is an hour before the last closable 12:00 UTC.
    fake.history_lag_ms = now - noon_ms(until) + HOUR_MS
    fake.history_point_overrides[("ETH", noon_ms(invalid_day))] = {"rate": None}
    with fake.serve() as base_url:
        backfill = Backfill(kafka_bootstrap, unique_name, fake, base_url, tmp_path)
        first = backfill("--since", since.isoformat())
        assert first.code == 0, first.stderr
        line = pending_line(first.stdout)
        assert "4 coin-days pending" in line, line
        assert "3 after the API's newest point (it lags behind)" in line
        assert "1 the 12:00 UTC point was invalid (dead-lettered)" in line
        assert set(backfill.closes()) == every_close(COINS, since, until) - {
            ("BTC", noon_ms(until)),
            ("ETH", noon_ms(until)),
            ("SOL", noon_ms(until)),
            ("ETH", noon_ms(invalid_day)),
        }
        # The API catches up and the invalid point is corrected: the next run fetches exactly
        # the pending days and publishes every close once.
        fake.history_lag_ms = 0
        fake.history_point_overrides.clear()
        fake.calls.clear()
        second = backfill("--since", since.isoformat())
        assert second.code == 0, second.stderr
        assert "4 coin-days pending" in second.stdout
        assert "0 coin-days pending" in pending_line(second.stdout)
        assert len(fake.calls_to("/coins/single/history")) == 4
    assert_every_close_once(backfill.closes(), COINS, since, until)


ESTIMATE = re.compile(r"expected credits ~(\d+) \(up to ~(\d+)")
SPENT = re.compile(r"backfill done: (\d+) credits spent")


def test_the_estimate_holds_and_the_range_length_is_kept_for_the_next_run(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    fake = FakeLiveCoinWatch(granularity=benchmark_granularity)
    with fake.serve() as base_url:
        backfill = Backfill(kafka_bootstrap, unique_name, fake, base_url, tmp_path)
        first = backfill("--since", "2024-07-01", "--until", "2025-06-30")
        assert first.code == 0, first.stderr
        (estimate, high), spent = (
            map(int, ESTIMATE.findall(first.stdout)[0]),
            int(SPENT.findall(first.stdout)[0]),
        )
        assert abs(spent - estimate) <= 0.25 * spent, first.stdout
        assert high >= estimate
        learned = [
            RangeLengthMessage.model_validate(v)
            for v in backfill.topic("COINS_TOPIC_BACKFILL_PROGRESS")
            if "good_days" in v
        ]
        assert learned, "the range length is recorded on the progress topic"
        assert learned[-1].api == base_url
        # Up to 90 days answer hourly points (the fake's rule): 90 days is the longest range.
        assert (learned[-1].good_days, learned[-1].bad_days) == (90, 91)
        # A later run (a year further back) starts from it: no range is asked too long.
        fake.calls.clear()
        second = backfill("--since", "2023-07-01", "--until", "2025-06-30")
        assert second.code == 0, second.stderr
        assert "range length 90 days, learned" in second.stdout
        spans = [
            (c.body["end"] - c.body["start"]) // DAY_MS
            for c in fake.calls_to("/coins/single/history")
        ]
        assert spans
        assert max(spans) == 90
        assert len(spans) == 3 * 5  # 366 days per coin in ranges of 90
        (estimate,) = [int(e) for e, _ in ESTIMATE.findall(second.stdout)]
        assert estimate == len(fake.calls)


def test_the_backfill_paces_itself_under_a_burst_limit(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    fake = FakeLiveCoinWatch(granularity=hourly_granularity)
    fake.set_burst_limit(4, per_seconds=0.5, retry_after="1")  # 8 calls a second
    with fake.serve() as base_url:
        backfill = Backfill(
            kafka_bootstrap,
            unique_name,
            fake,
            base_url,
            tmp_path,
            COINS_BACKFILL_CALLS_PER_SECOND="32",
            span_days=5,
            COINS_RETRY_MAX_SECONDS="2",
        )
        run = backfill("--since", "2024-01-01", "--until", "2024-05-09")
    assert run.code == 0, run.stderr
    assert "0 coin-days pending" in pending_line(run.stdout)
    history = fake.calls_to("/coins/single/history")
    answered = [c for c in history if c.status == 200]
    assert len(answered) == 3 * 26
    # Four times the limit at the start: a few refusals find it, then the pace stays below.
    assert fake.burst_refusals <= 0.1 * len(answered), fake.burst_refusals


def test_a_key_spent_during_the_run_stops_it_with_exit_3_and_the_rest_pending(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    fake = FakeLiveCoinWatch(granularity=hourly_granularity)

    def spent_after_six_ranges(endpoint: str, body: object) -> None:
        if endpoint == "/coins/single/history" and len(fake.calls_to(endpoint)) == 6:
            fake.credits_remaining = 0  # another user of the key spends the rest

    fake.on_request = spent_after_six_ranges
    with fake.serve() as base_url:
        backfill = Backfill(kafka_bootstrap, unique_name, fake, base_url, tmp_path, span_days=10)
        run = backfill("--since", "2024-01-01", "--until", "2024-03-31")
        # The credits-exhausted 429 is final: the refused call and one /credits look.
        assert [c.status for c in fake.calls[-2:]] == [429, 429]
        assert len(fake.calls) == 1 + 6 + 2
        assert run.code == 3, run.stderr
        assert "the key's daily credits are exhausted" in run.stdout
        assert "213 not fetched yet" in pending_line(run.stdout)
        # Next day (the fake's credits back): the next run refuses nothing and finishes.
        fake.on_request = None
        fake.credits_remaining = fake.credits_limit
        again = backfill("--since", "2024-01-01", "--until", "2024-03-31")
        assert again.code == 0, again.stderr
        assert "0 coin-days pending" in pending_line(again.stdout)
    closes = backfill.closes()
    assert set(closes) == every_close(COINS, dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    assert set(closes.values()) == {1}
