"""``coins backfill`` against the real broker: kill halfway, rerun, every close exactly once."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from producers.backfill import BackfillPlan, BackfillReport
from producers.cli import run_backfill
from producers.clock import noon_ms
from producers.kafka.connection import KafkaConnection
from producers.kafka.reader import read_topic
from producers.settings import Settings
from tests.support.fake_livecoinwatch import FakeLiveCoinWatch, hourly_granularity
from tests.support.producers_kafka import (
    assert_every_close_once,
    daily_closes,
    every_close,
    producer_env,
    producer_settings,
)
from tests.support.waiting import eventually

COINS = ("BTC", "ETH", "SOL")
SINCE, UNTIL = dt.date(2024, 1, 1), dt.date(2024, 12, 31)


def _env(
    bootstrap: str, unique_name: Callable[[str], str], base_url: str, key: str
) -> dict[str, str]:
    return producer_env(
        bootstrap,
        unique_name,
        COINS_LCW_API_KEY=key,
        COINS_LCW_BASE_URL=base_url,
        COINS_COINS=",".join(COINS),
        COINS_BACKFILL_INITIAL_SPAN_DAYS="20",
        COINS_BACKFILL_MAX_SPAN_DAYS="20",
    )


def _backfill(env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "producers.cli",
                "backfill",
                "--since",
                SINCE.isoformat(),
                "--until",
                UNTIL.isoformat(),
            ],
            env=env,
            cwd=cwd,
            stdout=sink,
            stderr=sink,
        )


def _history_ranges(fake: FakeLiveCoinWatch) -> list[tuple[str, int, int]]:
    return [
        (c.body["code"], c.body["start"], c.body["end"])
        for c in fake.calls_to("/coins/single/history")
        if c.status == 200
    ]


def test_a_backfill_killed_halfway_and_rerun_has_every_day_once(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    fake = FakeLiveCoinWatch(granularity=hourly_granularity, history_delay_seconds=0.05)
    log = tmp_path / "backfill.log"
    with fake.serve() as base_url:
        env = _env(kafka_bootstrap, unique_name, base_url, fake.api_key)
        first = _backfill(env, tmp_path, log)
        try:

            def ranges_while_running() -> int:
                assert first.poll() is None, log.read_text()
                return len(_history_ranges(fake))

            # 19 ranges of 20 days per coin: stop it in the middle of the second coin.
            eventually(
                ranges_while_running,
                until=lambda ranges: ranges >= 25,
                within=90,
                what="25 history ranges fetched",
                interval=0.02,
            )
            first.send_signal(signal.SIGKILL)
            first.wait(30)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
        first_ranges = _history_ranges(fake)
        fake.calls.clear()
        second = _backfill(env, tmp_path, log)
        assert second.wait(120) == 0, log.read_text()
        second_ranges = _history_ranges(fake)

    # Only the range in flight when the process died (its data unacknowledged) may be fetched
    # again; every acknowledged range is skipped.
    again = set(first_ranges) & set(second_ranges)
    assert len(again) <= 1, again
    if again:
        assert again == {first_ranges[-1]}
    assert len(first_ranges) + len(second_ranges) - len(again) == len(
        set(first_ranges) | set(second_ranges)
    )
    records = asyncio.run(
        read_topic(KafkaConnection(kafka_bootstrap), env["COINS_TOPIC_HISTORICAL"])
    )
    values = [json.loads(record.value or b"") for record in records]
    assert all(r.key == v["code"].encode() for r, v in zip(records, values, strict=True))
    assert_every_close_once(daily_closes(values), COINS, SINCE, UNTIL)
    # A third run has nothing left to do and calls nothing but /credits-free planning.
    assert "coin-days pending" in log.read_text()


def _settings(bootstrap: str, unique_name: Callable[[str], str], key: str) -> Settings:
    return producer_settings(
        bootstrap,
        unique_name,
        lcw_api_key=SecretStr(key),
        lcw_base_url="http://fake.invalid",
        coins=COINS,
    )


async def _run(
    settings: Settings, fake: FakeLiveCoinWatch | None, until: dt.date = UNTIL, **options: Any
) -> tuple[BackfillPlan, BackfillReport | None]:
    """``coins backfill --since SINCE --until until`` in this process, against ``fake``."""
    return await run_backfill(
        settings,
        stop=asyncio.Event(),
        since=SINCE,
        until=until,
        transport=fake.transport() if fake else None,
        show_progress=False,
        **options,
    )


async def test_a_rerun_after_completion_fetches_nothing(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    fake = FakeLiveCoinWatch(granularity=hourly_granularity)
    settings = _settings(kafka_bootstrap, unique_name, fake.api_key)
    until = dt.date(2024, 3, 31)
    _plan, report = await _run(settings, fake, until)
    assert report is not None
    assert report.days_covered == 3 * 91
    fake.calls.clear()
    plan, report = await _run(settings, fake, until)
    assert plan.pending_days == 0
    assert report is not None
    assert report.calls == 0
    assert fake.calls == []


async def test_refuses_when_credits_do_not_cover_the_plan_unless_partial(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    fake = FakeLiveCoinWatch(
        granularity=hourly_granularity, credits_limit=100, credits_remaining=13
    )
    settings = _settings(kafka_bootstrap, unique_name, fake.api_key).model_copy(
        update={"stream_credit_share": 0.01, "backfill_max_span_days": 30}
    )
    plan, report = await _run(settings, fake)
    assert report is None
    assert plan.expected_calls > 12
    assert [c.endpoint for c in fake.calls] == ["/credits"]
    assert await read_topic(KafkaConnection(kafka_bootstrap), settings.topic_historical) == []
    # --partial spends what is left (12 credits, 1 kept for the stream, 1 spare) and keeps
    # the progress: the closes on the topic are a contiguous run of days from the start.
    fake.credits_remaining = 13
    fake.calls.clear()
    _plan, report = await _run(settings, fake, partial=True)
    assert report is not None
    assert report.stopped_early is not None
    assert len(fake.calls) <= 12
    assert fake.credits_remaining >= 1
    records = await read_topic(KafkaConnection(kafka_bootstrap), settings.topic_historical)
    closes = daily_closes(json.loads(r.value or b"") for r in records)
    noons = sorted(stamp for code, stamp in closes.elements() if code == "BTC")
    assert noons
    assert noons == [noon_ms(SINCE + dt.timedelta(days=i)) for i in range(len(noons))]


async def test_demo_backfill_publishes_daily_closes_labelled_demo(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    settings = _settings(kafka_bootstrap, unique_name, "unused").model_copy(
        update={"lcw_api_key": None}
    )
    until = dt.date(2024, 1, 31)
    _plan, report = await _run(settings, None, until)
    assert report is not None
    assert report.calls == report.ranges_accepted
    records = await read_topic(KafkaConnection(kafka_bootstrap), settings.topic_historical)
    values = [json.loads(r.value or b"") for r in records]
    assert {v["source"] for v in values} == {"demo"}
    noons = Counter((v["code"], v["timestamp_ms"]) for v in values)
    assert set(noons) == every_close(COINS, SINCE, until)
    assert set(noons.values()) == {1}
