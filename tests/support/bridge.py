"""Kafka-engine emulation for the chDB path: real Kafka records into the substituted Null table.

The ClickHouse Kafka engine (``kafka_format='JSONEachRow'``, ``kafka_handle_error_mode='stream'``)
parses each record value, fills the virtual columns and, when a value cannot be parsed, emits a
row whose data columns hold defaults and whose ``_error`` / ``_raw_message`` say what failed.
This bridge does the same with ClickHouse itself as the parser:

- valid records are inserted in batches, each value sent as written with the virtual columns
  added as extra JSON fields in front of its own (``{"_topic": …, "_offset": …, <value>``);
- a batch ClickHouse rejects is split in halves until the rejected records are isolated; each
  of those becomes an error row carrying ClickHouse's own exception text and the raw value;
- values that are not JSON text at all are tried alone first, so the error is ClickHouse's too.

Where it differs from the real engine (see README, "Test backends"):
- it reads a topic when ``drain`` is called, not continuously; there is no
  ``kafka_flush_interval_ms`` and no ``kafka_max_block_size`` batching; positions are kept per
  bridge instance (like one consumer group), not committed to Kafka;
- empty values are skipped (the engine skips them too) and one value is one row: a value holding
  several newline-separated JSON objects is rejected as a whole here, while the engine would
  read every object;
- ``_error`` texts are ClickHouse's parser messages for the decorated value, so positions quoted
  in them are shifted by the prepended virtual fields;
- a value that itself has a field named like a virtual column (``_key``…) is rejected here.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.clickhouse_loader import KafkaTable

BATCH_SIZE = 5000
_VIRTUAL_INSERT_COLUMNS = (
    "_topic",
    "_key",
    "_offset",
    "_partition",
    "_timestamp",
    "_timestamp_ms",
    "_error",
    "_raw_message",
)
_EXCEPTION_PREFIX = re.compile(r"^.*?DB::Exception:\s*", re.DOTALL)


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int


def _clean_error(error: Exception) -> str:
    text = _EXCEPTION_PREFIX.sub("", str(error), count=1).strip()
    return text or type(error).__name__


def _json_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def find_table(
    tables: dict[str, KafkaTable], name: str | None = None, *, topic: str | None = None
) -> KafkaTable:
    """The Kafka table called ``name`` (qualified or not), else the one table reading ``topic``."""
    if name is not None:
        if name in tables:
            return tables[name]
        matches = [table for key, table in tables.items() if key.split(".")[-1] == name]
        wanted = f"a Kafka table named {name!r}"
    else:
        matches = [table for table in tables.values() if topic in table.topics]
        wanted = f"one Kafka table reading topic {topic!r} (or pass table=)"
    if len(matches) != 1:
        raise LookupError(f"expected {wanted}; found {[t.name for t in matches]} in {list(tables)}")
    return matches[0]


class KafkaEngineBridge:
    """Feeds Null-engine Kafka tables the way the ClickHouse Kafka engine would."""

    def __init__(
        self, client: Any, tables: dict[str, KafkaTable], bootstrap: str | None = None
    ) -> None:
        self.client = client
        self.tables = tables
        self.bootstrap = bootstrap
        self._positions: dict[tuple[str, int], int] = {}

    # ---- inserting ------------------------------------------------------------------------
    def insert_values(
        self,
        table: str,
        values: Sequence[bytes | str],
        *,
        topic: str | None = None,
        keys: Sequence[bytes | str | None] | None = None,
        partition: int = 0,
        first_offset: int = 0,
        timestamp_ms: int | None = None,
    ) -> int:
        """Insert raw message values as if consumed from Kafka; return the number of rows."""
        target = find_table(self.tables, table)
        topic = topic or (target.topics[0] if target.topics else "topic")
        stamp = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        records = [
            KafkaRecord(
                topic=topic,
                partition=partition,
                offset=first_offset + index,
                key=_as_bytes(keys[index]) if keys is not None else None,
                value=_as_bytes(value) or b"",
                timestamp_ms=stamp,
            )
            for index, value in enumerate(values)
        ]
        return self.insert_records(target, records)

    def insert_records(self, table: KafkaTable, records: Sequence[KafkaRecord]) -> int:
        rows = 0
        decorated: list[tuple[KafkaRecord, str]] = []
        for record in records:
            if not record.value.strip():
                continue
            text = record.value.decode("utf-8", errors="replace")
            if _is_json_object(text):
                decorated.append((record, text))
            else:
                rows += self._insert_alone(table, record, text)
        for start in range(0, len(decorated), BATCH_SIZE):
            rows += self._insert_batch(table, decorated[start : start + BATCH_SIZE])
        return rows

    def _insert_batch(self, table: KafkaTable, batch: list[tuple[KafkaRecord, str]]) -> int:
        if not batch:
            return 0
        body = "\n".join(_decorate(record, text) for record, text in batch)
        try:
            self._insert_json_rows(table, body)
            return len(batch)
        except Exception as error:
            if len(batch) == 1:
                record, text = batch[0]
                self._insert_error_row(table, record, text, _clean_error(error))
                return 1
        middle = len(batch) // 2
        return self._insert_batch(table, batch[:middle]) + self._insert_batch(table, batch[middle:])

    def _insert_alone(self, table: KafkaTable, record: KafkaRecord, text: str) -> int:
        try:
            self._insert_json_rows(table, _decorate(record, text))
        except Exception as error:
            self._insert_error_row(table, record, text, _clean_error(error))
        return 1

    def _insert_json_rows(self, table: KafkaTable, body: str) -> None:
        settings = "".join(
            f", {key} = {value if value.lstrip('-').isdigit() else repr(value)}"
            for key, value in table.input_format_settings.items()
        )
        self.client.command(
            f"INSERT INTO {table.name} SETTINGS date_time_input_format = 'best_effort'"
            f"{settings} FORMAT {table.format}\n{body}"
        )

    def _insert_error_row(
        self, table: KafkaTable, record: KafkaRecord, raw: str, error: str
    ) -> None:
        stamp = datetime.fromtimestamp(record.timestamp_ms / 1000, tz=UTC)
        self.client.insert(
            table.name,
            [
                [
                    record.topic,
                    (record.key or b"").decode("utf-8", errors="replace"),
                    record.offset,
                    record.partition,
                    stamp.replace(microsecond=0),
                    stamp,
                    error,
                    raw,
                ]
            ],
            column_names=list(_VIRTUAL_INSERT_COLUMNS),
        )

    # ---- consuming ------------------------------------------------------------------------
    def drain(self, topic: str, table: str | None = None, timeout: float = 30.0) -> int:
        """Consume the records now on ``topic`` (from where the last drain stopped); insert them."""
        if self.bootstrap is None:
            raise RuntimeError("this bridge has no Kafka bootstrap address")
        target = find_table(self.tables, table, topic=topic)
        records = asyncio.run(self._fetch(topic, wait_s=timeout))
        return self.insert_records(target, records)

    async def _fetch(self, topic: str, wait_s: float) -> list[KafkaRecord]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            deadline = time.monotonic() + wait_s
            partitions = await _wait_for_partitions(consumer, topic, deadline)
            assignment = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(assignment)
            end_offsets = await consumer.end_offsets(assignment)
            for tp in assignment:
                consumer.seek(tp, self._positions.get((topic, tp.partition), 0))
            records: list[KafkaRecord] = []
            start = {tp: self._positions.get((topic, tp.partition), 0) for tp in assignment}
            pending = {tp for tp in assignment if end_offsets[tp] > start[tp]}
            while pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"drain of {topic!r} did not reach the end offsets in time")
                batches = await consumer.getmany(timeout_ms=int(min(remaining, 1.0) * 1000))
                for tp, messages in batches.items():
                    for message in messages:
                        if message.offset >= end_offsets[tp]:
                            continue
                        records.append(
                            KafkaRecord(
                                topic=topic,
                                partition=tp.partition,
                                offset=message.offset,
                                key=message.key,
                                value=message.value or b"",
                                timestamp_ms=message.timestamp,
                            )
                        )
                for tp in list(pending):
                    if await consumer.position(tp) >= end_offsets[tp]:
                        pending.discard(tp)
            for tp in assignment:
                self._positions[(topic, tp.partition)] = end_offsets[tp]
            return records
        finally:
            await consumer.stop()


async def _wait_for_partitions(consumer: AIOKafkaConsumer, topic: str, deadline: float) -> set[int]:
    while True:
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return set(partitions)
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic!r} does not exist on the broker")
        await consumer._client.force_metadata_update()  # no public metadata refresh
        await asyncio.sleep(0.1)


def _as_bytes(value: bytes | str | None) -> bytes | None:
    if value is None:
        return None
    return value.encode("utf-8") if isinstance(value, str) else value


def _is_json_object(text: str) -> bool:
    stripped = text.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        return False
    try:
        return isinstance(json.loads(stripped), dict)
    except ValueError:
        return False


def _decorate(record: KafkaRecord, text: str) -> str:
    # Epoch strings parse the same whatever the server's time zone.
    seconds, millis = divmod(record.timestamp_ms, 1000)
    virtual = (
        f'"_topic":{_json_string(record.topic)},'
        f'"_key":{_json_string((record.key or b"").decode("utf-8", errors="replace"))},'
        f'"_offset":{record.offset},"_partition":{record.partition},'
        f'"_timestamp":"{seconds}","_timestamp_ms":"{seconds}.{millis:03d}"'
    )
    inner = text.strip()[1:].lstrip()
    separator = "" if inner.startswith("}") else ","
    return "{" + virtual + separator + inner


class RealKafkaEngineFeeder:
    """The same interface as the bridge for a real ClickHouse server with real Kafka tables.

    Values are produced to the topic the Kafka table reads; the call returns once the table's
    consumer group has committed past them, which the engine does only after the materialized
    views ran. Used only where Docker exists.
    """

    def __init__(self, client: Any, tables: dict[str, KafkaTable], bootstrap: str) -> None:
        self.client = client
        self.tables = tables
        self.bootstrap = bootstrap

    def insert_values(
        self,
        table: str,
        values: Sequence[bytes | str],
        *,
        topic: str | None = None,
        keys: Sequence[bytes | str | None] | None = None,
        partition: int = 0,
        first_offset: int = 0,
        timestamp_ms: int | None = None,
    ) -> int:
        del first_offset  # the broker assigns offsets on this path
        target = find_table(self.tables, table)
        topic = topic or target.topics[0]
        asyncio.run(self._produce(topic, values, keys, partition, timestamp_ms))
        self._await_consumed(target, topic)
        return len([value for value in values if _as_bytes(value)])

    def drain(self, topic: str, table: str | None = None, timeout: float = 60.0) -> int:
        return self._await_consumed(find_table(self.tables, table, topic=topic), topic, timeout)

    async def _produce(
        self,
        topic: str,
        values: Sequence[bytes | str],
        keys: Sequence[bytes | str | None] | None,
        partition: int,
        timestamp_ms: int | None,
    ) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            for index, value in enumerate(values):
                await producer.send(
                    topic,
                    _as_bytes(value),
                    key=_as_bytes(keys[index]) if keys is not None else None,
                    partition=partition,
                    timestamp_ms=timestamp_ms,
                )
            await producer.flush()
        finally:
            await producer.stop()

    def _end_offsets(self, topic: str) -> dict[int, int]:
        async def fetch() -> dict[int, int]:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
            await consumer.start()
            try:
                partitions = consumer.partitions_for_topic(topic) or set()
                assignment = [TopicPartition(topic, p) for p in partitions]
                ends = await consumer.end_offsets(assignment)
                return {tp.partition: offset for tp, offset in ends.items()}
            finally:
                await consumer.stop()

        return asyncio.run(fetch())

    def _await_consumed(self, table: KafkaTable, topic: str, timeout: float = 60.0) -> int:
        """Wait until the table's consumer group has committed every record now on ``topic``.

        The engine commits a block's offsets only after its materialized views ran, so a
        committed offset means the rows are in the target tables.
        """
        group = table.settings.get("kafka_group_name", "")
        if not group:
            raise LookupError(f"{table.name} declares no kafka_group_name to wait for")
        return asyncio.run(self._await_committed(group, topic, self._end_offsets(topic), timeout))

    async def _await_committed(
        self, group: str, topic: str, ends: dict[int, int], wait_s: float
    ) -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                offsets = await admin.list_consumer_group_offsets(group)
                positions = {
                    tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic
                }
                if all(positions.get(p, 0) >= end for p, end in ends.items() if end > 0):
                    return sum(ends.values())
                await asyncio.sleep(0.2)
        finally:
            await admin.close()
        raise TimeoutError(f"group {group!r} did not commit {topic!r} up to {ends} in {wait_s} s")
