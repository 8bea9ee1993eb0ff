"""``coins-portfolio``: check a transactions file, or publish it to the portfolio topic.

    coins-portfolio check portfolio/transactions.yaml
    coins-portfolio publish portfolio/transactions.yaml [--prune]

Settings are the producers' (``COINS_KAFKA_*``, ``COINS_TOPIC_PORTFOLIO``, ``COINS_CURRENCY``).
Exit codes: 0 done, 1 Kafka failed or unreachable (one line naming the setting), 2 bad
configuration, 3 file refused.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from portfolio.publish import PublishPlan, plan_publication, publish_plan
from portfolio.state import read_published
from portfolio.transactions import TransactionFileError, parse, portfolios_of
from producers.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, EXIT_REFUSED, make_publisher
from producers.clock import Clock, SystemClock
from producers.kafka.connection import KafkaConnection
from producers.kafka.publisher import PublishTimeoutError
from producers.kafka.topics import ensure_topics, producer_topics
from producers.logs import console_script, hide_secrets
from producers.reachability import UnreachableError, reaching_kafka
from producers.settings import Settings

log = logging.getLogger(__name__)


async def publish_file(
    settings: Settings, path: Path, *, prune: bool = False, clock: Clock | None = None
) -> PublishPlan:
    """Validate ``path`` and publish what changed (TransactionFileError if refused)."""
    clock = clock or SystemClock()
    text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    transactions = parse(text, str(path))
    connection = KafkaConnection.from_settings(settings)
    topic = [spec for spec in producer_topics(settings) if spec.name == settings.topic_portfolio]
    await ensure_topics(connection, topic)
    published = await read_published(connection, settings.topic_portfolio)
    plan = plan_publication(
        transactions,
        portfolios_of(text),
        published,
        topic=settings.topic_portfolio,
        currency=settings.currency,
        version_ms=clock.now_ms(),
        prune=prune,
    )
    publisher = make_publisher(settings, clock)
    try:
        await publish_plan(publisher, plan)
    finally:
        await publisher.close()
    return plan


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coins-portfolio", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate a transactions file, publish nothing")
    check.add_argument("file", type=Path)
    publish = commands.add_parser("publish", help="validate, then publish what changed")
    publish.add_argument("file", type=Path)
    publish.add_argument(
        "--prune",
        action="store_true",
        help="also delete the portfolios on the topic that the file does not name",
    )
    return parser


@console_script
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        text = args.file.read_text(encoding="utf-8")
        transactions = parse(text, str(args.file))
    except OSError as error:
        print(f"cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return EXIT_REFUSED
    except TransactionFileError as error:
        print(error, file=sys.stderr)
        return EXIT_REFUSED
    if args.command == "check":
        names = sorted({t.portfolio for t in transactions})
        print(f"{args.file}: {len(transactions)} transactions in {len(names)} portfolio(s) OK")
        return EXIT_OK
    try:
        settings = Settings()
    except ValueError as error:
        print(f"invalid configuration: {error}", file=sys.stderr)
        return EXIT_CONFIG
    hide_secrets(settings)
    try:
        plan = reaching_kafka(
            settings, lambda: asyncio.run(publish_file(settings, args.file, prune=args.prune))
        )
    except UnreachableError as error:
        print(error, file=sys.stderr)
        return EXIT_FAILURE
    except PublishTimeoutError as error:
        log.error("Kafka did not acknowledge the transactions: %s", error)
        return EXIT_FAILURE
    print(f"{args.file} -> topic {settings.topic_portfolio}: {plan.summary()}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
