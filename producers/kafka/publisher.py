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
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from producers.clock import Clock, SystemClock
from producers.kafka.connection import KafkaConnection

log = logging.getLogger("producers.kafka.publisher")

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


class Deadline:
    """A give-up time that can be set while a publish is already retrying (on shutdown)."""

    def __init__(self, at_ms: int | None = None) -> None:
        self.at_ms = at_ms

    def passed(self, now_ms: int) -> bool:
        return self.at_ms is not None and now_ms >= self.at_ms


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
        if deadline is None or deadline.at_ms is None:
            return PRODUCER_STOP_TIMEOUT_S
        left = (deadline.at_ms - self._clock.now_ms()) / 1000
        return max(0.0, min(PRODUCER_STOP_TIMEOUT_S, left))

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

    def _backoff(self, attempt: int) -> float:
        ceiling = self._options.retry_initial_seconds * 2 ** min(attempt - 1, 30)
        return min(self._options.retry_max_seconds, random.uniform(ceiling / 2, ceiling))

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
                    deadline.passed(now)
                    or now - started >= self._options.ack_timeout_seconds * 1000
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
        deadline = deadline or Deadline()
        self._last_deadline = deadline
        attempt = 0
        while True:
            if deadline.passed(self._clock.now_ms()):
                raise PublishTimeoutError(len(records))
            try:
                await self._attempt(records, deadline)
            except (KafkaError, TimeoutError, OSError) as error:
                attempt += 1
                delay = self._backoff(attempt)
                log.warning(
                    "kafka unavailable, keeping %d records and retrying in %.2fs (attempt %d): %s",
                    len(records),
                    delay,
                    attempt,
                    type(error).__name__ if not str(error) else error,
                )
                await self._discard_producer()
                now = self._clock.now_ms()
                if deadline.at_ms is not None and now + delay * 1000 > deadline.at_ms:
                    raise PublishTimeoutError(len(records)) from error
                await self._clock.sleep(delay)
                continue
            self.acknowledged += len(records)
            if attempt:
                log.info("kafka is back: %d records acknowledged", len(records))
            return

    async def close(self) -> None:
        await self._discard_producer()
