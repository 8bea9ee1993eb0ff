"""Dashboard snapshots: each snapshot table, after a refresh of its refreshable materialized
view, holds exactly what its view computes (the views stay the definitions, proven against the
plain-Python reference in test_clickhouse_views.py), follows new data, never accumulates
duplicates, and its DDL applies twice."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from embedded.clickhouse import INIT_DIR, apply_init
from producers.clock import epoch_ms
from tests.support.clickhouse_loader import rows
from tests.support.clickhouse_snapshots import Snapshot, refresh_snapshots, snapshots
from tests.support.portfolio_data import feed_sample_portfolio
from tests.support.tick_data import (
    NOON_MS,
    Tick,
    as_json,
    current_full_message,
    feed_scenario,
    golden_scenario,
    history_message,
)

SNAPSHOTS = snapshots()
# what the dashboards read: every daily indicator computed from daily_close
EXPECTED_VIEWS = {
    "moving_averages_daily",
    "ema_macd_daily",
    "rsi_daily",
    "bollinger_daily",
    "risk_daily",
    "risk_summary",
    "performance_returns",
    "performance_ranking",
    "change_latest",
    # the portfolio dashboard's heavy figures (docs/portfolio.md), and the priced transactions
    # they are built on, refreshed first (DEPENDS ON)
    "portfolio_transactions_priced",
    "portfolio_returns_daily",
    "portfolio_performance",
    "portfolio_positions",
    "portfolio_correlation",
    "portfolio_vs_btc",
    # the 24 h sparklines of coins top (terminal/queries.py)
    "coin_sparkline_24h",
}


def described(client: Any, table: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in client.query(f"DESCRIBE TABLE crypto.{table}").result_rows]


def ordered_rows(client: Any, table: str) -> list[tuple[Any, ...]]:
    columns = ", ".join(name for name, _ in described(client, table))
    return [
        tuple(row)
        for row in client.query(
            f"SELECT {columns} FROM crypto.{table} ORDER BY {columns}"
        ).result_rows
    ]


def same_value(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=1e-12, abs_tol=1e-12)
    return bool(left == right)


def assert_snapshot_equals_view(client: Any, item: Snapshot) -> None:
    expected = ordered_rows(client, item.view)
    actual = ordered_rows(client, item.snapshot)
    assert expected, f"{item.view} is empty: the comparison would prove nothing"
    assert len(actual) == len(expected), item.snapshot
    for snapshot_row, view_row in zip(actual, expected, strict=True):
        assert all(map(same_value, snapshot_row, view_row)), (item.snapshot, snapshot_row, view_row)


def test_every_daily_indicator_has_a_snapshot_refreshed_every_minute() -> None:
    assert {item.view for item in SNAPSHOTS} == EXPECTED_VIEWS
    for item in SNAPSHOTS:
        assert item.snapshot == f"{item.view}_snapshot"
        assert item.refresh == f"refresh_{item.view}"
        assert item.period == "1 MINUTE"


def test_readme_lists_every_snapshot_with_its_view_and_refresh() -> None:
    readme = (INIT_DIR / "README.md").read_text()
    section = readme[readme.index("## Snapshots") : readme.index("## Views and their columns")]
    listed = re.findall(r"^\| `(\w+)` \| `(\w+)` \| `(\w+)` \|", section, re.MULTILINE)
    assert listed == [(item.snapshot, item.view, item.refresh) for item in SNAPSHOTS]


@pytest.mark.parametrize("item", SNAPSHOTS, ids=lambda item: item.snapshot)
def test_snapshot_table_has_exactly_the_columns_and_types_of_its_view(
    clickhouse: Any, item: Snapshot
) -> None:
    assert described(clickhouse, item.snapshot) == described(clickhouse, item.view)


def test_the_server_schedules_every_refresh(clickhouse: Any) -> None:
    scheduled = {
        row[0]: row[1]
        for row in clickhouse.query(
            "SELECT view, status FROM system.view_refreshes WHERE database = 'crypto'"
        ).result_rows
    }
    assert set(scheduled) == {item.refresh for item in SNAPSHOTS}
    # a refresh with DEPENDS ON waits for its dependencies' refresh of the same minute
    assert set(scheduled.values()) <= {"Scheduled", "Running", "WaitingForDependencies"}


def test_a_snapshot_built_on_another_waits_for_its_refresh(clickhouse: Any) -> None:
    # what each object reads, from the server's own definitions
    reads = {
        row[0]: set(re.findall(r"\bcrypto\.(\w+)", row[1])) - {row[0]}
        for row in clickhouse.query(
            "SELECT name, create_table_query FROM system.tables WHERE database = 'crypto'"
        ).result_rows
    }

    def read_through_views(name: str) -> set[str]:
        found = set(reads.get(name, ()))
        for other in list(found):
            found |= read_through_views(other)
        return found

    refresh_of = {item.snapshot: item.refresh for item in SNAPSHOTS}
    order = [item.refresh for item in SNAPSHOTS]
    chained = 0
    for item in SNAPSHOTS:
        needed = {refresh_of[name] for name in read_through_views(item.view) if name in refresh_of}
        assert set(item.depends_on) == needed, item.refresh
        # refresh_snapshots runs them in file order: every dependency first
        assert all(order.index(d) < order.index(item.refresh) for d in item.depends_on)
        chained += bool(needed)
    assert chained == 4, "the portfolio snapshots built on the priced transactions"


def test_each_snapshot_equals_its_view_after_a_refresh(clickhouse: Any, kafka_feeder: Any) -> None:
    # data ending now: the portfolio's holdings run to the query's today()
    feed_scenario(kafka_feeder, golden_scenario(datetime.now(tz=UTC)))
    feed_sample_portfolio(kafka_feeder, datetime.now(tz=UTC).date())
    refresh_snapshots(clickhouse)
    for item in SNAPSHOTS:
        assert_snapshot_equals_view(clickhouse, item)


def test_a_snapshot_follows_new_data_and_never_accumulates_rows(
    clickhouse: Any, kafka_feeder: Any
) -> None:
    # data ending now: the portfolio's holdings run to the query's today()
    feed_scenario(kafka_feeder, golden_scenario(datetime.now(tz=UTC)))
    feed_sample_portfolio(kafka_feeder, datetime.now(tz=UTC).date())
    refresh_snapshots(clickhouse)
    refresh_snapshots(clickhouse)  # a second refresh replaces, it does not append
    for item in SNAPSHOTS:
        assert_snapshot_equals_view(clickhouse, item)
    before = rows(
        clickhouse, "SELECT code, latest_day FROM crypto.performance_returns_snapshot ORDER BY code"
    )

    # a new coin with 40 days of history, and a BTC live tick at exactly 12:00 UTC today, which
    # becomes today's close whatever the time of the run
    today = datetime.now(tz=UTC).date()
    first_day = today - timedelta(days=40)
    new_coin = [
        Tick(
            "LINK",
            epoch_ms(datetime(d.year, d.month, d.day, tzinfo=UTC)) + NOON_MS,
            10.0 + index,
        )
        for index, d in enumerate(first_day + timedelta(days=n) for n in range(40))
    ]
    kafka_feeder.insert_values(
        "kafka_coins_historical",
        as_json(history_message(tick) for tick in new_coin),
    )
    noon = epoch_ms(datetime(today.year, today.month, today.day, tzinfo=UTC)) + NOON_MS
    kafka_feeder.insert_values(
        "kafka_coins_current_full",
        as_json([current_full_message(Tick("BTC", noon, 99_999.0))]),
    )
    refresh_snapshots(clickhouse)

    for item in SNAPSHOTS:
        assert_snapshot_equals_view(clickhouse, item)
    after = {
        row["code"]: row
        for row in rows(clickhouse, "SELECT * FROM crypto.performance_returns_snapshot")
    }
    assert set(after) == {row["code"] for row in before} | {"LINK"}
    assert after["LINK"]["first_day"] == first_day
    assert after["LINK"]["return_since_first_pct"] == pytest.approx((49.0 / 10.0 - 1) * 100)
    link_days = rows(
        clickhouse,
        "SELECT count() AS days FROM crypto.moving_averages_daily_snapshot WHERE code = 'LINK'",
    )
    assert link_days == [{"days": 40}]
    assert after["BTC"]["latest_day"] == today
    assert after["BTC"]["latest_close"] == 99_999.0


def test_init_files_with_snapshots_apply_twice_and_keep_one_schedule_each(clickhouse: Any) -> None:
    apply_init(clickhouse)
    apply_init(clickhouse)
    refreshes = rows(
        clickhouse,
        "SELECT view FROM system.view_refreshes WHERE database = 'crypto' ORDER BY view",
    )
    assert [row["view"] for row in refreshes] == sorted(item.refresh for item in SNAPSHOTS)
    refresh_snapshots(clickhouse)
