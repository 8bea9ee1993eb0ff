"""Alert service: tick -> alert latency, and evaluation throughput against the publisher's.

Both parts run the real service (``alerts.cli.run_alerts``: consumer, evaluator, checkpoints,
publisher) on one native Kafka broker, with ticks shaped like the demo source's
(``coins_current_full`` values, ~1 KB).

1. Latency: 100 coins, 100 rules (50 ``price_above`` and 50 ``price_below`` levels around the
   prices, every coin), a cycle of 100 ticks every ``--cadence`` seconds (the demo stream's
   5 s by default) for ``--cycles`` cycles. Each tick is stamped just before it is published;
   an alert's latency is the time it is read back from ``coins_alerts`` minus its tick's stamp.
   Baseline, same run: the same measure for the ticks themselves read from their own topic
   (broker round trip). Goal: alert p99 <= 1 s.
2. Throughput: 1,000 rules (400 above, 400 below, 200 moves over 5/15/60 min windows) over
   100 coins; ``--ticks`` ticks published first with the project's ``KafkaPublisher`` (the
   baseline: its messages/s), then the service evaluates them from a checkpoint at offset 0
   until its checkpoint covers the end. Goal: evaluation ticks/s / publisher msgs/s >= 1.

Usage: .venv/bin/python benchmarks/bench_alerts.py [--cadence 5] [--cycles 24] [--ticks 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaConsumer

from alerts.cli import run_alerts
from alerts.models import AlertMessage, Checkpoint
from alerts.rules import RuleSet, parse_rules
from alerts.settings import AlertSettings
from alerts.state import PROGRESS_KEY
from embedded.kafka_broker import NativeKafkaBroker
from producers.kafka.connection import KafkaConnection
from producers.kafka.publisher import KafkaPublisher, Record
from producers.kafka.reader import read_topic
from producers.kafka.topics import ensure_topics
from producers.settings import Settings
from producers.sources.demo import DemoSource
from tests.support.virtual_clock import VirtualClock

COINS = tuple(f"C{n:03d}" for n in range(100))
LATENCY_GOAL_MS = 1000.0
THROUGHPUT_GOAL = 1.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def demo_ticks(cycles: int, clock: VirtualClock) -> list[list[dict[str, Any]]]:
    """``cycles`` cycles of 100 demo ticks, as dicts (stamped again when published)."""
    source = DemoSource(coins=COINS, currency="USD", clock=clock, seed=5)
    found = []
    for _ in range(cycles):
        clock.advance(5)
        found.append([m.model_dump(mode="json") for m in (await source.fetch()).messages])
    return found


def level_rules(count: int, prices: dict[str, float], spread_pct: float) -> list[dict[str, Any]]:
    """``count`` rules, half above and half below, each with one level per coin around its
    price (one rule per level and coin list would be 100x the rules: one rule targets all
    coins and the level is relative, so every coin gets its own rule id here)."""
    rules: list[dict[str, Any]] = []
    per_side = count // 2
    for side, kind in ((1, "price_above"), (-1, "price_below")):
        for k in range(per_side):
            offset = side * spread_pct * (k + 1) / per_side / 100
            coin = COINS[k % len(COINS)]
            rules.append(
                {
                    "id": f"{kind}-{k}",
                    "kind": kind,
                    "coins": coin,
                    "level": round(prices[coin] * (1 + offset), 10),
                    "hysteresis_pct": 0,
                }
            )
    return rules


def settings_for(bootstrap: str, run: str) -> tuple[Settings, AlertSettings]:
    settings = Settings(
        kafka_bootstrap_servers=bootstrap,
        coins=COINS,
        topic_current=f"{run}-ticks",
        topic_historical=f"{run}-history",
        topic_dead_letter=f"{run}-dead",
        topic_backfill_progress=f"{run}-progress",
        topic_partitions=3,
    )
    alert_settings = AlertSettings(
        rules_file=Path("unused.yaml"),
        topic_alerts=f"{run}-alerts",
        topic_state=f"{run}-state",
        topic_deliveries=f"{run}-deliveries",
        heartbeat_file=None,
    )
    return settings, alert_settings


async def read_stamps(
    bootstrap: str, topic: str, stamp_of: Any, until: asyncio.Event, found: list[float]
) -> None:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="latest",
                                fetch_max_wait_ms=50)  # fmt: skip
    await consumer.start()
    try:
        await consumer.seek_to_end()
        while not until.is_set():
            batches = await consumer.getmany(timeout_ms=100)
            now = time.time() * 1000
            for messages in batches.values():
                found.extend(now - stamp_of(m.value) for m in messages)
    finally:
        await consumer.stop()


async def latency(bootstrap: str, cadence: float, cycles: int) -> tuple[list[float], list[float]]:
    settings, alert_settings = settings_for(bootstrap, "latency")
    clock = VirtualClock(int(time.time() * 1000))
    series = await demo_ticks(cycles, clock)
    prices = {tick["code"]: tick["rate"] for tick in series[0]}
    rules = parse_rules({"version": 1, "rules": level_rules(100, prices, 0.05)})
    connection = KafkaConnection(bootstrap_servers=bootstrap)
    from alerts.topics import alert_topics

    await ensure_topics(connection, alert_topics(settings, alert_settings))
    stop, ready, done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    service = asyncio.ensure_future(
        run_alerts(settings, alert_settings, rules, stop=stop, ready=ready)
    )
    await asyncio.wait_for(ready.wait(), 120)
    alert_ms: list[float] = []
    tick_ms: list[float] = []
    readers = [
        asyncio.ensure_future(
            read_stamps(bootstrap, alert_settings.topic_alerts,
                        lambda v: AlertMessage.model_validate_json(v).event_time_ms, done,
                        alert_ms)
        ),
        asyncio.ensure_future(
            read_stamps(bootstrap, settings.topic_current,
                        lambda v: json.loads(v)["timestamp_ms"], done, tick_ms)
        ),
    ]  # fmt: skip
    await asyncio.sleep(2)  # let the readers join at the end of their topics
    publisher = KafkaPublisher(connection)
    for cycle in series:
        started = time.monotonic()
        now = int(time.time() * 1000)
        records = [
            Record(settings.topic_current, t["code"].encode(),
                   json.dumps({**t, "timestamp_ms": now}).encode())
            for t in cycle
        ]  # fmt: skip
        await publisher.publish(records)
        await asyncio.sleep(max(0.0, cadence - (time.monotonic() - started)))
    await asyncio.sleep(3)
    done.set()
    stop.set()
    await asyncio.gather(*readers)
    await service
    await publisher.close()
    return alert_ms, tick_ms


async def throughput(bootstrap: str, ticks: int) -> tuple[float, float, int]:
    settings, alert_settings = settings_for(bootstrap, "throughput")
    clock = VirtualClock(int(time.time() * 1000) - ticks // 100 * 5000)
    series = await demo_ticks(ticks // 100, clock)
    prices = {tick["code"]: tick["rate"] for tick in series[0]}
    rng = random.Random(3)
    rule_list = level_rules(800, prices, 2.0)
    rule_list += [
        {"id": f"move-{k}", "kind": "price_move", "coins": "all",
         "move_pct": round(rng.uniform(0.5, 5.0), 3), "window": rng.choice(["5m", "15m", "60m"])}
        for k in range(200)
    ]  # fmt: skip
    rules: RuleSet = parse_rules({"version": 1, "rules": rule_list})
    connection = KafkaConnection(bootstrap_servers=bootstrap)
    from alerts.topics import alert_topics

    await ensure_topics(connection, alert_topics(settings, alert_settings))
    records = [
        Record(settings.topic_current, t["code"].encode(), json.dumps(t).encode())
        for cycle in series
        for t in cycle
    ]
    publisher = KafkaPublisher(connection)
    await publisher.publish(records[:1000])  # connect outside the timing
    started = time.perf_counter()
    for first in range(1000, len(records), 1000):
        await publisher.publish(records[first : first + 1000])
    publish_rate = (len(records) - 1000) / (time.perf_counter() - started)
    # a checkpoint at offset 0: the service evaluates the whole topic
    first_ts = series[0][0]["timestamp_ms"]
    start = Checkpoint(
        tick_offsets={0: 0, 1: 0, 2: 0},
        tick_event_ms={0: first_ts, 1: first_ts, 2: first_ts},
        alert_offsets={0: 0},
        rules_version=1,
        written_at_ms=int(time.time() * 1000),
    )
    await publisher.publish(
        [Record(alert_settings.topic_state, PROGRESS_KEY, start.to_json_bytes())]
    )
    ends = await _end_offsets(bootstrap, settings.topic_current)
    stop, ready = asyncio.Event(), asyncio.Event()
    service = asyncio.ensure_future(
        run_alerts(settings, alert_settings, rules, stop=stop, ready=ready)
    )
    await asyncio.wait_for(ready.wait(), 120)
    began = time.perf_counter()
    while True:
        progress = await _last_progress(bootstrap, alert_settings.topic_state)
        if progress and all(progress.tick_offsets.get(p, 0) >= e for p, e in ends.items()):
            break
        await asyncio.sleep(0.2)
    evaluate_rate = len(records) / (time.perf_counter() - began)
    stop.set()
    run = await service
    await publisher.close()
    return evaluate_rate, publish_rate, run.stats.alerts_published


async def _end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    from aiokafka import TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        return {tp.partition: offset for tp, offset in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


async def _last_progress(bootstrap: str, topic: str) -> Checkpoint | None:
    records = [
        r for r in await read_topic(KafkaConnection(bootstrap), topic) if r.key == PROGRESS_KEY
    ]
    return Checkpoint.model_validate_json(records[-1].value or b"") if records else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cadence", type=float, default=5.0)
    parser.add_argument("--cycles", type=int, default=24)
    parser.add_argument("--ticks", type=int, default=200_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    broker = NativeKafkaBroker(workdir / "kafka")
    broker.start()
    try:
        alert_ms, tick_ms = asyncio.run(latency(broker.bootstrap, args.cadence, args.cycles))
        evaluate_rate, publish_rate, alerts = asyncio.run(throughput(broker.bootstrap, args.ticks))
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    p99, p50 = percentile(alert_ms, 0.99), statistics.median(alert_ms)
    base99 = percentile(tick_ms, 0.99)
    print(
        f"latency: {args.cycles} cycles of 100 ticks every {args.cadence:g} s, 100 rules over "
        f"100 coins: {len(alert_ms)} alerts, p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
        f"max {max(alert_ms):.0f} ms"
    )
    print(
        f"baseline: tick -> plain consumer of the tick topic, p99 {base99:.0f} ms over "
        f"{len(tick_ms)} ticks; alert p99 = {p99 / max(base99, 1):.1f} x baseline"
    )
    ratio = evaluate_rate / publish_rate
    print(
        f"throughput: 1,000 rules over 100 coins, {args.ticks:,} ticks: evaluation "
        f"{evaluate_rate:,.0f} ticks/s ({alerts:,} alerts published), publisher "
        f"{publish_rate:,.0f} msg/s on the same broker: ratio {ratio:.2f} (goal >= "
        f"{THROUGHPUT_GOAL:g}: {'meets' if ratio >= THROUGHPUT_GOAL else 'misses'})"
    )
    verdict = "meets" if p99 <= LATENCY_GOAL_MS else "misses"
    print(
        f"alerts: tick -> alert p99 {p99:.0f} ms (goal <= {LATENCY_GOAL_MS:.0f} ms: {verdict}); "
        f"evaluation {evaluate_rate:,.0f} ticks/s = {ratio:.2f} x the publisher"
    )


if __name__ == "__main__":
    main()
