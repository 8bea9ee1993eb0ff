"""Delivery of the alerts topic to one webhook, in order, with progress kept in Kafka.

Each webhook has its own consumer group (``<COINS_ALERTS_CONSUMER_GROUP>-<webhook name>``) on
the alerts topic, so a webhook that is down holds back only itself. An alert is tried with the
project's retry policy; then its outcome (delivered, or dead-lettered with the reason) is
published to the deliveries topic, a dead letter also to the producers' dead-letter topic, and
only then is the group's offset committed. A restart therefore resumes after the last finished
alert; the one in flight at a crash may be sent again, with the same ``Idempotency-Key``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from pydantic import ValidationError

from alerts.models import AlertMessage, DeliveryMessage, DeliveryStatus, alert_key
from alerts.rules import RuleSet
from alerts.webhooks import WebhookRejectedError, WebhookSender, WebhookUnavailableError
from producers.clock import Clock
from producers.kafka.connection import KafkaConnection
from producers.kafka.publisher import Publisher, Record
from producers.kafka.topics import topic_partitions
from producers.models import DeadLetterMessage

log = logging.getLogger(__name__)


class StoppedError(Exception):
    """Shutdown was requested while waiting to retry: leave the alert uncommitted."""


def group_name(prefix: str, webhook: str) -> str:
    return f"{prefix}-{webhook}"


async def start_groups_at_end(connection: KafkaConnection, topic: str, groups: list[str]) -> None:
    """A webhook seen for the first time starts with the alerts fired from now on, not with the
    topic's whole history: commit the current end for groups that have no offset yet."""
    partitions = [TopicPartition(topic, p) for p in await topic_partitions(connection, topic)]
    for group in groups:
        consumer = AIOKafkaConsumer(
            **connection.client_options(), group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign(partitions)
            committed = {tp: await consumer.committed(tp) for tp in partitions}
            missing = [tp for tp, offset in committed.items() if offset is None]
            if missing:
                ends = await consumer.end_offsets(missing)
                await consumer.commit({tp: OffsetAndMetadata(ends[tp], "") for tp in missing})
        finally:
            await consumer.stop()


class Deliverer:
    def __init__(
        self,
        *,
        sender: WebhookSender,
        connection: KafkaConnection,
        alerts_topic: str,
        deliveries_topic: str,
        dead_letter_topic: str,
        group: str,
        publisher: Publisher,
        clock: Clock,
        stop: asyncio.Event,
        rules: RuleSet,
    ) -> None:
        self._sender = sender
        self._connection = connection
        self._alerts_topic = alerts_topic
        self._deliveries_topic = deliveries_topic
        self._dead_letter_topic = dead_letter_topic
        self._group = group
        self._publisher = publisher
        self._clock = clock
        self._stop = stop
        self._rules = rules.by_id()
        self.delivered = 0
        self.dead_letters = 0

    @property
    def webhook_name(self) -> str:
        return self._sender.webhook.name

    async def _outcome(
        self,
        alert: AlertMessage,
        raw: bytes,
        status: DeliveryStatus,
        reason: str,
    ) -> None:
        webhook = self._sender.webhook
        now = self._clock.now_ms()
        delivery = DeliveryMessage(
            alert_id=alert.alert_id,
            rule_id=alert.rule_id,
            coin=alert.coin,
            webhook=webhook.name,
            webhook_kind=webhook.kind,
            status=status,
            attempts=self._sender.attempts,
            http_status=self._sender.last_status,
            reason=reason,
            event_time_ms=alert.event_time_ms,
            finished_at_ms=now,
        )
        records = [
            Record(
                self._deliveries_topic,
                alert_key(alert.rule_id, alert.coin),
                delivery.to_json_bytes(),
            )
        ]
        if status == "dead_letter":
            dead = DeadLetterMessage(
                source="alerts",
                intended_topic=f"webhook:{webhook.name}",
                code=alert.coin,
                error=reason,
                raw=raw.decode("utf-8", errors="replace"),
                failed_at_ms=now,
            )
            records.append(
                Record(self._dead_letter_topic, alert.coin.encode(), dead.to_json_bytes())
            )
        await self._publisher.publish(records)

    async def _deliver(self, raw: bytes) -> None:
        try:
            alert = AlertMessage.model_validate_json(raw)
        except ValidationError as error:
            log.warning("skipping an unreadable alert record: %s", error)
            return
        rule = self._rules.get(alert.rule_id)
        if rule is not None and not rule.notifies(self._sender.webhook.name):
            return
        name = self._sender.webhook.name
        try:
            await self._sender.send(alert)
        except WebhookRejectedError as error:
            reason = str(error)
        except WebhookUnavailableError as error:
            reason = f"{error}; gave up after {self._sender.attempts} attempts"
        else:
            await self._outcome(alert, raw, "delivered", "")
            self.delivered += 1
            return
        log.error(
            "alert dead-lettered",
            extra={"fields": {"webhook": name, "id": alert.alert_id, "reason": reason}},
        )
        await self._outcome(alert, raw, "dead_letter", reason)
        self.dead_letters += 1

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            self._alerts_topic,
            **self._connection.client_options(),
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=100)
                for tp, messages in batches.items():
                    for message in messages:
                        try:
                            await self._deliver(message.value or b"")
                        except StoppedError:
                            return
                        await consumer.commit({tp: OffsetAndMetadata(message.offset + 1, "")})
        finally:
            await consumer.stop()


def stoppable_sleep(clock: Clock, stop: asyncio.Event) -> Callable[[float], Awaitable[None]]:
    async def sleep(seconds: float) -> None:
        if await clock.wait(seconds, stop):
            raise StoppedError

    return sleep
