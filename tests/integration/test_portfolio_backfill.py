"""The backfill starts early enough for the earliest portfolio transaction on the topic."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path

from portfolio.cli import publish_file
from producers.cli import run_backfill
from producers.planner import backfill_start
from producers.settings import Settings
from tests.support.portfolio_data import noon, transactions_yaml

EARLY = dt.date(2023, 6, 10)


def test_backfill_start_is_the_day_before_the_earliest_transaction_when_earlier() -> None:
    configured = dt.date(2024, 1, 1)
    assert backfill_start(configured, None) == configured
    assert backfill_start(configured, EARLY) == dt.date(2023, 6, 9)
    assert backfill_start(configured, dt.date(2024, 1, 1)) == dt.date(2023, 12, 31)
    assert backfill_start(configured, dt.date(2024, 5, 1)) == configured


async def test_the_backfill_reads_the_earliest_live_transaction_from_kafka(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        kafka_bootstrap_servers=kafka_bootstrap,
        coins=("BTC",),
        topic_current=unique_name("current"),
        topic_historical=unique_name("historical"),
        topic_dead_letter=unique_name("dead"),
        topic_backfill_progress=unique_name("progress"),
        topic_portfolio=unique_name("portfolio"),
    )
    path = tmp_path / "transactions.yaml"
    document = {
        "p": [
            {"id": "old", "at": noon(EARLY, hours=-3), "type": "buy", "coin": "BTC", "quantity": 1},
            {
                "id": "new",
                "at": noon(dt.date(2024, 2, 1)),
                "type": "buy",
                "coin": "ETH",
                "quantity": 1,
            },
        ]
    }
    path.write_text(transactions_yaml(document))
    await publish_file(settings, path)
    plan, report = await run_backfill(
        settings, stop=asyncio.Event(), until=dt.date(2023, 6, 12), show_progress=False
    )
    assert report is not None
    assert plan.since == dt.date(2023, 6, 9)
    assert report.days_covered == 4
    # the early line deleted: the next run starts at the configured day again
    del document["p"][0]
    path.write_text(transactions_yaml(document))
    await publish_file(settings, path)
    plan, _report = await run_backfill(
        settings, stop=asyncio.Event(), until=dt.date(2024, 1, 3), show_progress=False
    )
    assert plan.since == settings.backfill_since
