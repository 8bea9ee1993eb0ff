"""Publisher throughput: our aiokafka publisher vs Kafka's own ProducerPerformance tool.

Both write the same messages (real ``coins_current_full`` JSON values, same size) to the same
native broker in the same run, with the same producer settings: idempotent, acks=all, gzip,
linger 20 ms, 512 KiB batches. Ours is measured from the first send to the last
acknowledgement (``KafkaPublisher.publish`` on batches of one stream cycle's worth of coins
times 100); ProducerPerformance reports its own records/s.

Usage: .venv/bin/python benchmarks/bench_publisher_throughput.py [--records N]
Goal: ours / ProducerPerformance >= 0.25.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from embedded.kafka_broker import NativeKafkaBroker, kafka_classpath
from producers.kafka.connection import KafkaConnection
from producers.kafka.publisher import KafkaPublisher, PublisherOptions, Record
from producers.sources.demo import DemoSource
from tests.support.virtual_clock import VirtualClock

GOAL = 0.25
PARTITIONS = 3
BATCH = 1_000
SETTINGS = {
    "acks": "all",
    "enable.idempotence": "true",
    "compression.type": "gzip",
    "linger.ms": "20",
    "batch.size": str(512 * 1024),
}


async def messages(count: int) -> list[tuple[bytes, bytes]]:
    clock = VirtualClock(1_735_689_600_000)
    source = DemoSource(
        coins=["BTC", "ETH", "USDT", "FDUSD", "XRP", "SOL", "USDC", "DOGE", "LINK", "AAVE"],
        currency="USD",
        clock=clock,
        seed=1,
    )
    pairs: list[tuple[bytes, bytes]] = []
    while len(pairs) < count:
        clock.advance(10)
        pairs += [(m.code.encode(), m.to_json_bytes()) for m in (await source.fetch()).messages]
    return pairs[:count]


async def create_topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        await admin.close()


async def ours(bootstrap: str, topic: str, pairs: list[tuple[bytes, bytes]]) -> float:
    publisher = KafkaPublisher(
        KafkaConnection(bootstrap_servers=bootstrap),
        PublisherOptions(compression="gzip", linger_ms=20, max_batch_bytes=512 * 1024),
    )
    records = [Record(topic, key, value) for key, value in pairs]
    await publisher.publish(records[:BATCH])  # connect and warm up outside the timing
    started = time.perf_counter()
    for first in range(0, len(records), BATCH):
        await publisher.publish(records[first : first + BATCH])
    elapsed = time.perf_counter() - started
    await publisher.close()
    return len(records) / elapsed


def producer_performance(bootstrap: str, topic: str, values: list[bytes], workdir: Path) -> float:
    payloads = workdir / "payloads.txt"
    payloads.write_bytes(b"\n".join(values))
    props = [f"bootstrap.servers={bootstrap}", *(f"{k}={v}" for k, v in SETTINGS.items())]
    result = subprocess.run(
        [
            "java",
            "-Xmx512m",
            "-cp",
            kafka_classpath(),
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            topic,
            "--num-records",
            str(len(values)),
            "--throughput",
            "-1",
            "--payload-file",
            str(payloads),
            "--producer-props",
            *props,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    lines = [line for line in result.stdout.splitlines() if "records sent" in line]
    match = re.search(r"([\d.]+) records/sec", lines[-1])
    if match is None:
        raise RuntimeError(f"unexpected ProducerPerformance output:\n{result.stdout}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    pairs = asyncio.run(messages(args.records))
    values = [value for _key, value in pairs]
    size = sum(map(len, values)) / len(values)
    workdir = Path(tempfile.mkdtemp(prefix="bench-publisher-"))
    broker = NativeKafkaBroker(workdir / "kafka")
    broker.start()
    try:
        asyncio.run(create_topics(broker.bootstrap, "bench-ours", "bench-java"))
        java = producer_performance(broker.bootstrap, "bench-java", values, workdir)
        mine = asyncio.run(ours(broker.bootstrap, "bench-ours", pairs))
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    ratio = mine / java
    print(
        f"messages: {len(values)} of {size:.0f} bytes on average, {PARTITIONS} partitions, "
        f"{', '.join(f'{k}={v}' for k, v in SETTINGS.items())}"
    )
    print(f"ProducerPerformance (kafka-tools): {java:,.0f} msg/s")
    print(f"ours (KafkaPublisher, aiokafka):   {mine:,.0f} msg/s")
    verdict = "meets" if ratio >= GOAL else "misses"
    print(
        f"publisher throughput: {mine:,.0f} msg/s = {ratio:.2f} x ProducerPerformance "
        f"({java:,.0f} msg/s); goal >= {GOAL} ({verdict})"
    )


if __name__ == "__main__":
    main()
