"""Tick -> queryable latency through the real broker and ClickHouse's real Kafka engine.

A native Kafka broker and chDB with clickhouse/init applied unchanged (embedded/clickhouse.py);
the topics get the producers' shipped layout. Ticks are published by the product's publisher
(``producers.cli.make_publisher``: shipped settings, acks=all) at the stream's cadence (the
demo source's: every configured coin each ``demo_interval_seconds``) and at 100x it. A watcher
thread polls chDB and notes when each tick is visible in crypto.coins_ticks and in the minute
rollup (crypto.rollup_ohlc_minute, whose tick bitmap holds each tick's millisecond offset).
Latency = first seen - publish acknowledgement; resolution = one poll (printed).

Baseline, same run: the same batches inserted straight into crypto.coins_ticks (no Kafka),
from the start of the insert to the row seen by the same watcher.

Usage: .venv/bin/python benchmarks/bench_tick_latency.py [--cadence-cycles N] [--fast-cycles N]
Goal: p99 <= 2 s at both rates, with the shipped settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from alerts.settings import AlertSettings  # noqa: E402
from embedded.clickhouse import EmbeddedClickHouse, open_embedded  # noqa: E402
from embedded.kafka_broker import NativeKafkaBroker  # noqa: E402
from producers.cli import make_publisher  # noqa: E402
from producers.kafka.connection import KafkaConnection  # noqa: E402
from producers.kafka.publisher import Record  # noqa: E402
from producers.kafka.topics import (  # noqa: E402
    ensure_topics,
    producer_topics,
    topic_defaults,
    topic_variables,
)
from producers.settings import Settings  # noqa: E402
from provisioning.contracts import example  # noqa: E402

GOAL_P99_S = 2.0
SPEEDUP = 100
# the live topic's contract, named after the setting's default
CONTRACT = example(topic_defaults(Settings)["COINS_TOPIC_CURRENT"])
TickKey = tuple[str, int]  # (code, timestamp_ms)


@dataclass
class Watcher:
    """Polls ClickHouse for the ticks of coins starting with ``prefix``; notes first sight."""

    engine: EmbeddedClickHouse
    lock: threading.Lock
    prefix: str = ""
    seen_ticks: dict[TickKey, float] = field(default_factory=dict)
    seen_rollup: dict[TickKey, float] = field(default_factory=dict)
    polls: int = 0
    poll_seconds: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def poll(self) -> None:
        started = time.perf_counter()
        parameters = {"prefix": self.prefix}
        with self.lock:
            ticks = self.engine.client.query(
                "SELECT code, toUnixTimestamp64Milli(ts) FROM crypto.coins_ticks "
                "WHERE startsWith(code, {prefix:String})",
                parameters=parameters,
            ).result_rows
            rollup = self.engine.client.query(
                "SELECT code, toUnixTimestamp(minute) * 1000 + arrayJoin(bitmapToArray("
                "groupBitmapMergeState(tick_offsets))) FROM crypto.rollup_ohlc_minute "
                "WHERE startsWith(code, {prefix:String}) GROUP BY code, minute",
                parameters=parameters,
            ).result_rows
        now = time.time()
        for code, stamp in ticks:
            self.seen_ticks.setdefault((code, int(stamp)), now)
        for code, stamp in rollup:
            self.seen_rollup.setdefault((code, int(stamp)), now)
        self.polls += 1
        self.poll_seconds += time.perf_counter() - started

    def run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(0.005)

    def stop(self) -> None:
        self._stop.set()


def message(code: str, timestamp_ms: int, rate: float) -> bytes:
    return json.dumps(
        {**CONTRACT, "code": code, "timestamp_ms": timestamp_ms, "rate": rate}
    ).encode()


async def publish_at(
    settings: Settings, codes: list[str], interval_s: float, cycles: int
) -> dict[TickKey, float]:
    """Publish one tick per coin every ``interval_s``; return each tick's acknowledgement time."""
    publisher = make_publisher(settings)
    acknowledged: dict[TickKey, float] = {}
    next_at = time.monotonic()
    try:
        for cycle in range(cycles):
            stamp = int(time.time() * 1000)
            records = [
                Record(settings.topic_current, code.encode(), message(code, stamp, 1.0 + cycle))
                for code in codes
            ]
            await publisher.publish(records)
            done = time.time()
            acknowledged.update({(code, stamp): done for code in codes})
            next_at += interval_s
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        await publisher.close()
    return acknowledged


def insert_directly(
    engine: EmbeddedClickHouse,
    lock: threading.Lock,
    codes: list[str],
    interval_s: float,
    cycles: int,
) -> dict[TickKey, float]:
    """The baseline: each batch inserted into coins_ticks itself; return each insert's start."""
    started_at: dict[TickKey, float] = {}
    next_at = time.monotonic()
    for cycle in range(cycles):
        stamp = int(time.time() * 1000)
        moment = datetime.fromtimestamp(stamp / 1000, tz=UTC)
        rows = [[code, moment, "bench", "USD", 1, 1.0 + cycle, [], 0, 0, moment] for code in codes]
        begin = time.time()
        with lock:
            engine.client.insert(
                "crypto.coins_ticks",
                rows,
                column_names=[
                    "code",
                    "ts",
                    "source",
                    "currency",
                    "schema_version",
                    "rate",
                    "categories",
                    "kafka_partition",
                    "kafka_offset",
                    "ingested_at",
                ],
            )
        started_at.update({(code, stamp): begin for code in codes})
        next_at += interval_s
        time.sleep(max(0.0, next_at - time.monotonic()))
    return started_at


def wait_for_all(watcher: Watcher, keys: list[TickKey], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(k in watcher.seen_ticks and k in watcher.seen_rollup for k in keys):
            return
        time.sleep(0.05)
    missing = [k for k in keys if k not in watcher.seen_ticks or k not in watcher.seen_rollup]
    raise TimeoutError(f"{len(missing)} of {len(keys)} ticks never became visible: {missing[:5]}")


def percentiles(latencies: list[float]) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    cut = statistics.quantiles(ordered, n=100, method="inclusive")
    return cut[49], cut[98], ordered[-1]


@dataclass(frozen=True)
class Result:
    name: str
    ticks: int
    stored: tuple[float, float, float]
    rollup: tuple[float, float, float]

    def line(self) -> str:
        def fmt(p: tuple[float, float, float]) -> str:
            return (
                f"p50 {p[0] * 1000:6.0f} ms  p99 {p[1] * 1000:6.0f} ms  max {p[2] * 1000:6.0f} ms"
            )

        return (
            f"{self.name:<34} n={self.ticks:<6} coins_ticks {fmt(self.stored)} | "
            f"minute rollup {fmt(self.rollup)}"
        )


def measure(
    name: str,
    watcher: Watcher,
    prefix: str,
    coins: int,
    run: Callable[[list[str]], dict[TickKey, float]],
) -> Result:
    codes = [f"{prefix}{index}" for index in range(coins)]
    watcher.prefix = prefix
    sent = run(codes)
    keys = list(sent)
    wait_for_all(watcher, keys)
    stored = [watcher.seen_ticks[k] - sent[k] for k in keys]
    rollup = [watcher.seen_rollup[k] - sent[k] for k in keys]
    return Result(name, len(keys), percentiles(stored), percentiles(rollup))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cadence-cycles", type=int, default=24, help="cycles at the cadence")
    parser.add_argument("--fast-cycles", type=int, default=1200, help="cycles at 100x")
    args = parser.parse_args()

    settings = Settings()
    interval_s = settings.demo_interval_seconds
    coins = len(settings.coins)
    workdir = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    broker = NativeKafkaBroker(workdir / "kafka")
    broker.start()
    engine: EmbeddedClickHouse | None = None
    try:
        connection = KafkaConnection(broker.bootstrap)
        settings = settings.model_copy(update={"kafka_bootstrap_servers": broker.bootstrap})
        asyncio.run(ensure_topics(connection, producer_topics(settings)))  # shipped layout
        topics = topic_variables(settings, AlertSettings())
        engine = open_embedded(workdir / "chdb", connection, topics=topics, group_prefix="bench")
        flush_ms = engine.table(topic=settings.topic_current).settings["kafka_flush_interval_ms"]
        lock = threading.Lock()
        watcher = Watcher(engine, lock)
        thread = threading.Thread(target=watcher.run, daemon=True)
        thread.start()
        try:
            # warm-up: the engine's consumer joins its group on the first records
            measure(
                "warm-up",
                watcher,
                "WARM",
                coins,
                lambda c: asyncio.run(publish_at(settings, c, interval_s / SPEEDUP, 20)),
            )
            cadence = measure(
                f"Kafka, {coins} ticks / {interval_s:g} s",
                watcher,
                "CAD",
                coins,
                lambda c: asyncio.run(publish_at(settings, c, interval_s, args.cadence_cycles)),
            )
            fast = measure(
                f"Kafka, {coins} ticks / {interval_s / SPEEDUP:g} s (100x)",
                watcher,
                "FST",
                coins,
                lambda c: asyncio.run(
                    publish_at(settings, c, interval_s / SPEEDUP, args.fast_cycles)
                ),
            )
            direct = measure(
                f"direct insert, {coins} / {interval_s / SPEEDUP:g} s",
                watcher,
                "DIR",
                coins,
                lambda c: insert_directly(engine, lock, c, interval_s / SPEEDUP, 200),
            )
        finally:
            watcher.stop()
            thread.join()
    finally:
        if engine is not None:
            engine.close()
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"shipped kafka_flush_interval_ms = {flush_ms}; "
        f"publisher linger {settings.kafka_linger_ms} ms"
    )
    print(
        f"watcher: {watcher.polls} polls, {watcher.poll_seconds / watcher.polls * 1000:.1f} ms each"
    )
    for result in (cadence, fast, direct):
        print(result.line())
    worst = max(cadence.stored[1], cadence.rollup[1], fast.stored[1], fast.rollup[1])
    verdict = "meets" if worst <= GOAL_P99_S else "MISSES"
    print(
        f"Tick -> queryable p99: {cadence.stored[1]:.2f} s at the stream's cadence, "
        f"{fast.stored[1]:.2f} s at 100x (rollup {fast.rollup[1]:.2f} s) = "
        f"{fast.stored[1] / direct.stored[1]:.1f}x a direct insert's p99 "
        f"({verdict} goal p99 <= {GOAL_P99_S:g} s)"
    )


if __name__ == "__main__":
    main()
