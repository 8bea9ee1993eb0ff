"""The product's native broker (``make local``): a fixed-port broker whose data directory
survives the process, and one clear error when its port is taken."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from embedded.clickhouse import retry_kafka_call
from embedded.kafka_broker import NativeKafkaBroker, PortInUseError, free_port
from tests.support.waiting import eventually_async


async def _send(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()


async def _consume_and_commit(bootstrap: str, topic: str, group: str, count: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(60):
            async for message in consumer:
                values.append(message.value or b"")
                if len(values) >= count:
                    break
        await consumer.commit()
    finally:
        await consumer.stop()
    return values


async def _committed(bootstrap: str, topic: str, group: str) -> int:
    """The group's committed offset, once the restarted broker's coordinator has loaded it.

    Right after a restart the group coordinator may answer before it has read back
    ``__consumer_offsets`` (measured: an empty answer under load), so ask until the group's
    offset appears, for at most 60 s.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:

        async def committed() -> OffsetAndMetadata | None:
            offsets = await retry_kafka_call(
                lambda: admin.list_consumer_group_offsets(group), f"offsets of {group}", 60
            )
            return offsets.get(TopicPartition(topic, 0))

        found = await eventually_async(
            committed,
            until=lambda meta: meta is not None,
            within=60,
            what=f"the committed offset of {group} on {topic}",
            interval=0.5,
        )
        assert found is not None
        return int(found.offset)
    finally:
        await admin.close()


def test_a_new_broker_process_on_the_same_directory_keeps_topics_messages_and_offsets(
    tmp_path: Path,
) -> None:
    port, controller = free_port(), free_port()
    first = NativeKafkaBroker(tmp_path, port=port, controller_port=controller, heap="256m")
    assert not first.formatted_storage_exists()
    first.start()
    try:
        asyncio.run(_send(first.bootstrap, "kept", [b"one", b"two", b"three"]))
        read = asyncio.run(_consume_and_commit(first.bootstrap, "kept", "reader", 2))
        assert read == [b"one", b"two"]
    finally:
        first.stop()
    cluster_id = (tmp_path / "data" / "meta.properties").read_text()

    # A fresh object, as after `make local` was stopped and started again.
    second = NativeKafkaBroker(tmp_path, port=port, controller_port=controller, heap="256m")
    assert second.formatted_storage_exists()
    second.start()
    try:
        assert asyncio.run(_committed(second.bootstrap, "kept", "reader")) == 2
        rest = asyncio.run(_consume_and_commit(second.bootstrap, "kept", "reader", 1))
        assert rest == [b"three"]
    finally:
        second.stop()
    assert (tmp_path / "data" / "meta.properties").read_text() == cluster_id


def test_a_fixed_port_in_use_is_one_clear_error_and_nothing_is_touched(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    keep = tmp_path / "data" / "keep.txt"
    keep.write_text("precious")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        broker = NativeKafkaBroker(tmp_path, port=taken, controller_port=free_port())
        with pytest.raises(PortInUseError, match=rf"port {taken} \(Kafka\) is already in use"):
            broker.start()
        assert not broker.running
    assert keep.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
