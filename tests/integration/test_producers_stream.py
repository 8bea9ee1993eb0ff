"""``coins stream`` against the real broker: exact messages, broker outage, SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from producers.cli import run_stream
from producers.clock import SystemClock
from producers.kafka.connection import KafkaConnection
from producers.kafka.publisher import KafkaPublisher, PublisherOptions
from producers.kafka.topics import ensure_topics, producer_topics
from producers.settings import Settings
from producers.sources.current import FetchResult
from producers.sources.demo import DemoSource
from producers.stream import StreamRunner, StreamTopics
from provisioning.contracts import example, schema
from tests.support.fake_livecoinwatch import FakeLiveCoinWatch
from tests.support.producers_kafka import producer_env, producer_settings, read_topic
from tests.support.waiting import eventually

COINS = ("USDT", "BTC", "ETH", "FDUSD", "XRP", "SOL", "USDC", "DOGE", "LINK", "AAVE")


def settings_for(bootstrap: str, unique_name: Callable[[str], str], **extra: Any) -> Settings:
    return producer_settings(
        bootstrap,
        unique_name,
        stream_min_interval_seconds=0.05,
        retry_initial_seconds=0.01,
        retry_max_seconds=0.05,
        kafka_retry_initial_seconds=0.2,
        kafka_retry_max_seconds=1.0,
        kafka_ack_timeout_seconds=5.0,
        kafka_linger_ms=5,
        **extra,
    )


async def test_a_stream_run_publishes_exactly_the_expected_messages(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    fake = FakeLiveCoinWatch(credits_limit=10_000_000)
    fake.coin_overrides["XRP"] = {"rate": "garbage"}
    settings = settings_for(kafka_bootstrap, unique_name, lcw_api_key=fake.api_key)
    stats = await run_stream(
        settings, stop=asyncio.Event(), transport=fake.transport(), max_cycles=3
    )
    assert stats.cycles == 3
    records = await read_topic(kafka_bootstrap, settings.topic_current)
    assert len(records) == 3 * 9
    assert sorted({r.key or b"" for r in records}) == sorted(
        c.encode() for c in COINS if c != "XRP"
    )
    expected_fields = list(example("coins_current_full"))
    values = [json.loads(r.value or b"") for r in records]
    assert all(list(v) == expected_fields for v in values)
    # what the stream really published (real broker, fake API) is valid under the contract
    validator = Draft202012Validator(schema("coins_current_full"))
    for value in values:
        validator.validate(value)
    assert all(r.key == v["code"].encode() for r, v in zip(records, values, strict=True))
    assert len({v["timestamp_ms"] for v in values}) == 3
    assert {v["source"] for v in values} == {"livecoinwatch"}
    dead = await read_topic(kafka_bootstrap, settings.topic_dead_letter)
    assert len(dead) == 3
    assert {r.key for r in dead} == {b"XRP"}
    # One partition per key: each coin's ticks are in time order.
    by_coin: dict[str, list[int]] = {}
    for value in values:
        by_coin.setdefault(value["code"], []).append(value["timestamp_ms"])
    assert all(stamps == sorted(stamps) for stamps in by_coin.values())


class RecordingSource:
    """Wraps a source and remembers every tick it fetched."""

    def __init__(self, inner: DemoSource) -> None:
        self.name = inner.name
        self._inner = inner
        self.fetched: set[tuple[str, int]] = set()

    async def fetch(self) -> FetchResult:
        result = await self._inner.fetch()
        self.fetched |= {(m.code, m.timestamp_ms) for m in result.messages}
        return result


def test_broker_outage_loses_no_fetched_tick(
    running_kafka_broker: Any, unique_name: Callable[[str], str]
) -> None:
    # Synchronous on purpose: the broker is stopped and started from the main thread (the
    # native broker dies with the thread that started it), the stream runs in its own thread.
    broker = running_kafka_broker
    settings = settings_for(broker.bootstrap, unique_name)
    asyncio.run(ensure_topics(KafkaConnection.from_settings(settings), producer_topics(settings)))
    clock = SystemClock()
    source = RecordingSource(DemoSource(coins=COINS[:3], currency="USD", clock=clock, seed=3))
    holder: dict[str, Any] = {}
    ready = threading.Event()

    async def stream() -> None:
        publisher = KafkaPublisher(
            KafkaConnection.from_settings(settings),
            PublisherOptions(
                linger_ms=5,
                ack_timeout_seconds=3.0,
                retry_initial_seconds=0.2,
                retry_max_seconds=1.0,
            ),
        )
        stop = asyncio.Event()
        runner = StreamRunner(
            source=source,
            publisher=publisher,
            clock=clock,
            topics=StreamTopics(settings.topic_current, settings.topic_dead_letter),
            stop=stop,
            fixed_interval_seconds=0.1,
            shutdown_timeout_seconds=60,
        )
        holder.update(runner=runner, stop=stop, loop=asyncio.get_running_loop())
        ready.set()
        try:
            await runner.run()
        finally:
            await publisher.close()

    def thread_main() -> None:
        try:
            asyncio.run(stream())
        except BaseException as error:  # surfaced to the test below
            holder["error"] = error
            ready.set()

    thread = threading.Thread(target=thread_main, name="stream-under-test")
    thread.start()
    try:
        assert ready.wait(30)
        runner = holder["runner"]
        eventually(
            lambda: runner.stats.published_messages,
            until=lambda acked: acked >= 15,
            within=30,
            what="first acknowledgements",
        )
        broker.stop()
        acked_at_stop = runner.stats.published_messages
        fetched_at_stop = len(source.fetched)
        eventually(
            lambda: len(source.fetched),
            until=lambda fetched: fetched >= fetched_at_stop + 30,
            within=30,
            what="ticks fetched while the broker is down",
        )
        # At most the batches already in flight when the broker went away can be acknowledged.
        assert runner.stats.published_messages <= acked_at_stop + 3 * 3
        broker.start()
        fetched_after = len(source.fetched)
        eventually(
            lambda: runner.stats.published_messages,
            until=lambda acked: acked >= fetched_after,
            within=90,
            what="the backlog to be acknowledged after the restart",
        )
    finally:
        if "loop" in holder:
            holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(90)
    assert "error" not in holder, holder.get("error")
    assert not thread.is_alive()
    on_topic = {
        (json.loads(r.value or b"")["code"], json.loads(r.value or b"")["timestamp_ms"])
        for r in asyncio.run(read_topic(broker.bootstrap, settings.topic_current))
    }
    missing = source.fetched - on_topic
    assert not missing, f"{len(missing)} fetched ticks never reached Kafka"
    assert len(source.fetched) > fetched_at_stop + 30


def _stream_env(bootstrap: str, unique_name: Callable[[str], str], **extra: str) -> dict[str, str]:
    return producer_env(
        bootstrap,
        unique_name,
        COINS_STREAM_MIN_INTERVAL_SECONDS="0.05",
        COINS_DEMO_INTERVAL_SECONDS="0.05",
        **extra,
    )


CYCLE_LINE = re.compile(r'"event": "cycle"')
PAUSE_LINE = re.compile(r"pausing until (?P<until>\S+) \(")
# The interpreter's own exit after the command's last step (module teardown, threads), which
# no setting bounds and a loaded machine stretches: the outer bound on the whole process.
PROCESS_EXIT_ALLOWANCE_S = 30.0


@dataclass
class StreamProcess:
    """``coins stream`` running in its own process, its log in a file."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text()

    def cycles(self) -> int:
        return len(CYCLE_LINE.findall(self.log()))

    def wait_for_log(self, done: Callable[[str], object], what: str, within: float = 60) -> None:
        def running_log() -> str:
            text = self.log()
            assert self.process.poll() is None, f"coins stream exited early:\n{text}"
            return text

        eventually(running_log, until=done, within=within, what=what)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)


@contextlib.contextmanager
def coins_stream(env: dict[str, str], tmp_path: Path) -> Iterator[StreamProcess]:
    log_path = tmp_path / "stream.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "producers.cli", "stream"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            cwd=tmp_path,
        )
        try:
            yield StreamProcess(process, log_path)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.parametrize("source", ["demo", "livecoinwatch"])
def test_sigterm_leaves_every_acknowledged_message_on_the_topic(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path, source: str
) -> None:
    fake = FakeLiveCoinWatch(credits_limit=10_000_000)
    with fake.serve() as base_url:
        extra = (
            {"COINS_LCW_API_KEY": fake.api_key, "COINS_LCW_BASE_URL": base_url}
            if source == "livecoinwatch"
            else {}
        )
        env = _stream_env(kafka_bootstrap, unique_name, **extra)
        with coins_stream(env, tmp_path) as stream:
            stream.wait_for_log(lambda text: len(CYCLE_LINE.findall(text)) >= 5, "5 cycles")
            code = stream.terminate()
            log_text = stream.log()
    assert code == 0, log_text
    if source == "demo":
        assert "DEMO MODE" in log_text
    cycles = [json.loads(line) for line in log_text.splitlines() if CYCLE_LINE.search(line)]
    acknowledged = {(c["fetched_at"], c["coins_published"]) for c in cycles}
    assert all(count == 10 for _at, count in acknowledged)
    records = asyncio.run(read_topic(kafka_bootstrap, env["COINS_TOPIC_CURRENT"]))
    values = [json.loads(r.value or b"") for r in records]
    assert {v["source"] for v in values} == {source}
    per_tick: dict[int, set[str]] = {}
    for value in values:
        per_tick.setdefault(value["timestamp_ms"], set()).add(value["code"])
    assert len(records) >= 10 * len(cycles)
    for cycle in cycles:
        stamp = _iso_ms(cycle["fetched_at"])
        assert per_tick.get(stamp) == set(COINS), f"acknowledged cycle {cycle} not on the topic"
    assert fake.api_key not in log_text


def _iso_ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp() * 1000)


def test_with_the_broker_down_stopping_takes_at_most_the_shutdown_timeout(
    running_kafka_broker: Any, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    broker = running_kafka_broker
    timeout = 8.0
    fake = FakeLiveCoinWatch(credits_limit=10_000_000)
    with fake.serve() as base_url:
        env = _stream_env(
            broker.bootstrap,
            unique_name,
            COINS_LCW_API_KEY=fake.api_key,
            COINS_LCW_BASE_URL=base_url,
            COINS_SHUTDOWN_TIMEOUT_SECONDS=str(timeout),
            # Longer than the shutdown timeout: the stop finds a send still waiting for its
            # acknowledgement on a producer whose broker is gone (the case that hung in stop()).
            COINS_KAFKA_ACK_TIMEOUT_SECONDS="30",
            COINS_KAFKA_RETRY_INITIAL_SECONDS="0.2",
            COINS_KAFKA_RETRY_MAX_SECONDS="1",
        )
        with coins_stream(env, tmp_path) as stream:
            stream.wait_for_log(lambda text: len(CYCLE_LINE.findall(text)) >= 3, "3 cycles")
            broker.stop()
            cycles_before = stream.cycles()
            # Cycles go on being fetched and queued while the send in flight waits: ten more
            # fetches, each a turn of the event loop the sender shares, in which an
            # acknowledgement would have been logged.
            fetches = len(fake.calls_to("/coins/map"))
            eventually(
                lambda: len(fake.calls_to("/coins/map")),
                until=lambda fetched: fetched >= fetches + 10,
                within=60,
                what="ten more fetches while the broker is down",
            )
            assert stream.process.poll() is None, stream.log()
            asked = time.monotonic()
            code = stream.terminate()
            took = time.monotonic() - asked
            log_text = stream.log()
    assert code == 1, log_text
    assert "shutdown with unacknowledged data" in log_text
    assert len(CYCLE_LINE.findall(log_text)) <= cycles_before + 1, "acknowledged while down"
    # The configured timeout is the total from the signal: flushing, stopping the producer and
    # leaving the event loop, as the command measures it; the process then has to exit.
    (shutdown,) = [
        json.loads(line) for line in log_text.splitlines() if '"event": "shutdown done"' in line
    ]
    seconds = shutdown["seconds_since_signal"]
    assert seconds <= timeout, f"the shutdown took {seconds} s with a {timeout} s timeout"
    assert took <= timeout + PROCESS_EXIT_ALLOWANCE_S, f"exited {took:.2f} s after the signal"


def _next_reset() -> dt.datetime:
    """The next 00:00 UTC, when LiveCoinWatch renews the daily credits."""
    tomorrow = dt.datetime.now(tz=dt.UTC).date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(), tzinfo=dt.UTC)


def _stream_with_fake(
    fake: FakeLiveCoinWatch,
    bootstrap: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    reason: str,
    **extra: str,
) -> str:
    """``coins stream`` against ``fake`` until it pauses for ``reason``, then stopped; its log.

    The stream announces the pause after its last call was answered (the fake records a call
    before answering it), so every call it made, retries included, is recorded by then; the
    pause must last until the reset, and the stop must end it without another call."""
    resets = {_next_reset()}
    with fake.serve() as base_url:
        env = _stream_env(
            bootstrap,
            unique_name,
            COINS_LCW_API_KEY=fake.api_key,
            COINS_LCW_BASE_URL=base_url,
            COINS_RETRY_INITIAL_SECONDS="0.01",
            COINS_RETRY_MAX_SECONDS="0.05",
            **extra,
        )
        with coins_stream(env, tmp_path) as stream:
            stream.wait_for_log(
                lambda text: any(
                    reason in line and PAUSE_LINE.search(line) for line in text.splitlines()
                ),
                f"the pause for {reason!r}",
            )
            calls_before_the_pause = list(fake.calls)
            code = stream.terminate()
            log_text = stream.log()
    resets.add(_next_reset())  # the test may cross midnight
    assert code == 0, log_text
    (pause,) = PAUSE_LINE.finditer(log_text)
    assert dt.datetime.fromisoformat(pause["until"]) in resets, pause[0]
    assert fake.calls == calls_before_the_pause, "called during the pause or the stop"
    return log_text


def test_a_spent_key_is_final_until_the_reset_no_retries_no_credits_hammering(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    fake = FakeLiveCoinWatch(credits_limit=10_000, credits_remaining=0)
    log_text = _stream_with_fake(
        fake, kafka_bootstrap, unique_name, tmp_path, "daily credits of the key spent"
    )
    # The refused /credits and one look to tell a spent key from a burst limit; then the
    # stream sleeps until 00:00 UTC instead of calling again.
    assert [c.endpoint for c in fake.calls] == ["/credits", "/credits"]
    assert "pausing until" in log_text
    assert "daily credits for the stream spent" not in log_text


def test_an_allotment_too_small_for_one_cycle_says_nothing_was_spent(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    fake = FakeLiveCoinWatch(credits_limit=100)
    log_text = _stream_with_fake(
        fake,
        kafka_bootstrap,
        unique_name,
        tmp_path,
        "daily credits for the stream too few",
        COINS_STREAM_CREDIT_SHARE="0.01",
    )
    assert "no cycle spent any" in log_text
    assert "daily credits for the stream spent" not in log_text
    assert [c.endpoint for c in fake.calls] == ["/credits"]
    assert fake.credits_remaining == 99
