"""``coins alerts``: wire the evaluator and one deliverer per webhook, run until stopped."""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

import httpx

from alerts.delivery import Deliverer, group_name, start_groups_at_end, stoppable_sleep
from alerts.rules import RulesError, RuleSet, load_rules
from alerts.service import AlertEvaluatorService, ServiceStats
from alerts.settings import AlertSettings
from alerts.topics import alert_topics
from alerts.webhooks import WebhookSender
from producers.clock import Clock, SystemClock
from producers.kafka.connection import KafkaConnection
from producers.kafka.topics import ensure_topics
from producers.reachability import require_clickhouse
from producers.retry import RetryPolicy
from producers.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class AlertsRun:
    stats: ServiceStats
    delivered: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)


def load_checked_rules(alert_settings: AlertSettings) -> RuleSet:
    """The rules file, validated, with webhook names checked against the configured ones."""
    return load_rules(
        alert_settings.rules_file, webhook_names=[hook.name for hook in alert_settings.webhooks]
    )


def clickhouse_client(alert_settings: AlertSettings) -> Any | None:
    dsn = alert_settings.clickhouse_dsn()
    if dsn is None:
        return None
    import clickhouse_connect

    require_clickhouse(dsn)
    return clickhouse_connect.get_client(dsn=dsn)


async def run_alerts(
    settings: Settings,
    alert_settings: AlertSettings,
    rules: RuleSet,
    *,
    stop: asyncio.Event,
    clock: Clock | None = None,
    clickhouse: Any | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    ready: asyncio.Event | None = None,
    stats: ServiceStats | None = None,
) -> AlertsRun:
    """The whole ``coins alerts`` command, minus argument parsing and signal wiring;
    ``stats`` (the evaluator's counters) can be given to watch them while it runs."""
    from producers.cli import make_publisher  # the producers' publisher, configured once

    clock = clock or SystemClock()
    connection = KafkaConnection.from_settings(settings)
    await ensure_topics(connection, alert_topics(settings, alert_settings))
    groups = {
        hook.name: group_name(alert_settings.consumer_group, hook.name)
        for hook in alert_settings.webhooks
    }
    await start_groups_at_end(connection, alert_settings.topic_alerts, list(groups.values()))
    if not alert_settings.webhooks:
        log.info("no webhook configured: alerts go to the topic and the dashboard only")
    publisher = make_publisher(settings, clock)
    policy = RetryPolicy(
        attempts=alert_settings.delivery_attempts,
        initial_seconds=alert_settings.delivery_initial_seconds,
        max_seconds=alert_settings.delivery_max_seconds,
    )
    service = AlertEvaluatorService(
        settings=settings,
        alert_settings=alert_settings,
        rules=rules,
        publisher=publisher,
        clock=clock,
        stop=stop,
        clickhouse=clickhouse,
        ready=ready,
        stats=stats,
    )
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(alert_settings.delivery_timeout_seconds), transport=transport
    ) as http:
        deliverers = [
            Deliverer(
                sender=WebhookSender(hook, http, policy, stoppable_sleep(clock, stop)),
                connection=connection,
                alerts_topic=alert_settings.topic_alerts,
                deliveries_topic=alert_settings.topic_deliveries,
                dead_letter_topic=settings.topic_dead_letter,
                group=groups[hook.name],
                publisher=publisher,
                clock=clock,
                stop=stop,
                rules=rules,
            )
            for hook in alert_settings.webhooks
        ]
        tasks: list[asyncio.Future[Any]] = [asyncio.ensure_future(service.run())]
        tasks += [asyncio.ensure_future(deliverer.run()) for deliverer in deliverers]
        try:
            done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.exception() is not None:
                    stop.set()
            await asyncio.gather(*tasks)
        finally:
            stop.set()
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await publisher.close()
    return AlertsRun(
        stats=service.stats,
        delivered={d.webhook_name: d.delivered for d in deliverers},
        dead_letters={d.webhook_name: d.dead_letters for d in deliverers},
    )


def print_rules_error(error: RulesError) -> None:
    print(f"the alert rules cannot be used ({error.source}):", file=sys.stderr)
    for problem in error.problems:
        print(f"  {problem}", file=sys.stderr)
