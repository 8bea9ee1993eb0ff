"""Kafka publisher: idempotent, ``acks=all``, compressed, batched, and stubborn.

``publish`` returns only once the broker acknowledged every record of the batch. If the
broker is unreachable the batch is kept and sent again with backoff, on a fresh producer,
until it is acknowledged or the caller's deadline passes. Re-sending after an unanswered
attempt can duplicate records (at-least-once); the consumers deduplicate on coin + timestamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from producers.clock import Clock, SystemClock, seconds_clock
from producers.kafka.connection import KafkaConnection
from producers.retry import Deadline, RetryPolicy, retry_async

log = logging.getLogger(__name__)

PRODUCER_STOP_TIMEOUT_S = 5.0
DEADLINE_POLL_S = 0.25


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes
    # A tombstone is sent with a null value (``value`` is ignored): a compacted topic then
    # forgets the key.
    tombstone: bool = False

    @property
    def payload(self) -> bytes | None:
        return None if self.tombstone else self.value


class PublishTimeoutError(Exception):
    """The deadline passed with records still unacknowledged."""

    def __init__(self, unacknowledged: int) -> None:
        super().__init__(f"{unacknowledged} records were not acknowledged by Kafka")
        self.unacknowledged = unacknowledged


class Publisher(Protocol):
    async def publish(self, records: Sequence[Record], *, deadline: Deadline | None = None) -> None:
        """Return when every record is acknowledged; raise PublishTimeoutError at the deadline."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class PublisherOptions:
    compression: str = "gzip"
    linger_ms: int = 20
    max_batch_bytes: int = 512 * 1024
    ack_timeout_seconds: float = 30.0
    retry_initial_seconds: float = 0.5
    retry_max_seconds: float = 10.0


class KafkaPublisher:
    def __init__(
        self,
        connection: KafkaConnection,
        options: PublisherOptions | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._connection = connection
        self._options = options or PublisherOptions()
        self._clock = clock or SystemClock()
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = DefaultPartitioner()
        self._round_robin = 0
        self._last_deadline: Deadline | None = None
        # Until the acknowledgement or the caller's deadline (a shutdown arms it).
        self._retry = RetryPolicy(
            attempts=None,
            initial_seconds=self._options.retry_initial_seconds,
            max_seconds=self._options.retry_max_seconds,
            retry_on=(KafkaError, TimeoutError, OSError),
            wait_until_deadline=False,
        )
        self.acknowledged = 0

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            options = self._options
            producer = AIOKafkaProducer(
                **self._connection.client_options(),
                client_id="coins-producer",
                enable_idempotence=True,
                acks="all",
                compression_type=None if options.compression == "none" else options.compression,
                linger_ms=options.linger_ms,
                max_batch_size=options.max_batch_bytes,
                request_timeout_ms=int(options.ack_timeout_seconds * 1000),
            )
            try:
                await producer.start()
            except BaseException:
                await self._stop_quietly(producer)
                raise
            self._producer = producer
        return self._producer

    def _stop_budget_seconds(self) -> float:
        """How long stopping a producer may take: never past a caller's deadline (the
        shutdown timeout is the total, not a figure before a fixed extra wait)."""
        deadline = self._last_deadline
        if deadline is None:
            return PRODUCER_STOP_TIMEOUT_S
        return min(PRODUCER_STOP_TIMEOUT_S, deadline.remaining)

    async def _stop_quietly(self, producer: AIOKafkaProducer) -> None:
        # A producer whose broker vanished can hang in stop() flushing; bound it.
        budget = self._stop_budget_seconds()
        if budget > 0:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), timeout=budget)
            return
        # No time left: cancel the stop at once (its flush could not succeed anyway).
        stopping = asyncio.ensure_future(producer.stop())
        await asyncio.sleep(0)
        stopping.cancel()
        with contextlib.suppress(BaseException):
            await stopping

    async def _discard_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await self._stop_quietly(producer)

    async def _send_all(self, records: Sequence[Record]) -> None:
        """Send every record and wait for all acknowledgements.

        Records are grouped per partition (the same murmur2 key hash as the Java client) and
        appended to whole batches: per-record ``send()`` calls cost more Python time than
        the broker needs to store the data.
        """
        producer = await self._ensure_producer()
        by_partition: dict[tuple[str, int], list[Record]] = {}
        partitions: dict[str, list[int]] = {}
        for record in records:
            if record.topic not in partitions:
                partitions[record.topic] = sorted(await producer.partitions_for(record.topic))
            choices = partitions[record.topic]
            if record.key is None:
                partition = choices[self._round_robin % len(choices)]
                self._round_robin += 1
            else:
                partition = self._partitioner(record.key, choices, choices)
            by_partition.setdefault((record.topic, partition), []).append(record)
        futures = []
        for (topic, partition), group in by_partition.items():
            batch = producer.create_batch()
            for record in group:
                if batch.append(key=record.key, value=record.payload, timestamp=None) is None:
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    if batch.append(key=record.key, value=record.payload, timestamp=None) is None:
                        raise ValueError(f"a record of {len(record.value)} bytes exceeds a batch")
            if batch.record_count():
                futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)

    async def _attempt(self, records: Sequence[Record], deadline: Deadline) -> None:
        """One send of the whole batch, abandoned at the ack timeout or the deadline."""
        started = self._clock.now_ms()
        task = asyncio.ensure_future(self._send_all(records))
        try:
            while not task.done():
                # Short slices so a deadline set by a shutdown request takes effect quickly.
                await asyncio.wait({task}, timeout=DEADLINE_POLL_S)
                now = self._clock.now_ms()
                if not task.done() and (
                    deadline.expired or now - started >= self._options.ack_timeout_seconds * 1000
                ):
                    raise TimeoutError("no acknowledgement in time")
            task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    async def publish(self, records: Sequence[Record], *, deadline: Deadline | None = None) -> None:
        if not records:
            return
        deadline = deadline or Deadline(clock=seconds_clock(self._clock))
        self._last_deadline = deadline
        failures = 0

        async def attempt() -> None:
            nonlocal failures
            if deadline.expired:
                raise PublishTimeoutError(len(records))
            try:
                await self._attempt(records, deadline)
            except (KafkaError, TimeoutError, OSError):
                failures += 1
                await self._discard_producer()
                raise

        try:
            await retry_async(
                attempt,
                self._retry,
                deadline=deadline,
                sleep=self._clock.sleep,
                describe=f"publishing {len(records)} records (kafka unavailable, records kept)",
            )
        except (KafkaError, TimeoutError, OSError) as error:
            # Only the deadline ends the retries: the records were not acknowledged in time.
            raise PublishTimeoutError(len(records)) from error
        self.acknowledged += len(records)
        if failures:
            log.info("kafka is back: %d records acknowledged", len(records))

    async def close(self) -> None:
        await self._discard_producer()
