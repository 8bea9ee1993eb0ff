"""``coins top`` driven headless with Textual's Pilot, over the real ClickHouse engine with the
project's schema: rows written to the stored tables flow through the project's materialized
views into the rollups, the snapshots are refreshed by ClickHouse itself, and the dashboard
shows what its queries read back."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from textual.widgets import DataTable, Static

from terminal.app import EMPTY_STORE, TopApp
from terminal.queries import DashboardQueries
from terminal.store import Store
from tests.support.clickhouse_snapshots import refresh_snapshots

TICK_COLUMNS = [
    "code", "ts", "source", "currency", "schema_version", "rate", "volume", "categories",
    "kafka_partition", "kafka_offset", "ingested_at",
]  # fmt: skip
HISTORY_COLUMNS = [
    "code", "ts", "source", "currency", "schema_version", "rate", "kafka_partition",
    "kafka_offset", "ingested_at",
]  # fmt: skip
PRICES = {"BTC": 90_000.0, "ETH": 3_000.0}


def _price(code: str, minutes_ago: int) -> float:
    # distinct, known prices: 0.01 % per minute of age below the base
    return PRICES[code] * (1 - 0.0001 * minutes_ago)


def _store_ticks(client: Any, now: dt.datetime, last_tick_minutes_ago: int = 0) -> None:
    rows = []
    for code in PRICES:
        for minutes_ago in range(last_tick_minutes_ago, 26 * 60, 5):
            ts = now - dt.timedelta(minutes=minutes_ago)
            rows.append(
                [code, ts, "demo", "USD", 1, _price(code, minutes_ago), 1e9 + minutes_ago,
                 [], 0, minutes_ago, now]
            )  # fmt: skip
    client.insert("crypto.coins_ticks", rows, column_names=TICK_COLUMNS)


def _store_history(client: Any, today: dt.date, days: int = 60) -> None:
    rows = []
    for code, base in PRICES.items():
        for back in range(1, days + 1):
            day = today - dt.timedelta(days=back)
            noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
            rows.append([code, noon, "demo", "USD", 1, base * (1 + 0.001 * back), 0, back, noon])
    client.insert("crypto.coins_history", rows, column_names=HISTORY_COLUMNS)


def _cells(table: DataTable[Any], row: int) -> list[str]:
    return [str(cell) for cell in table.get_row_at(row)]


async def _settle(app: TopApp, pilot: Any) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


@pytest.fixture
def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _store_recent_only(client: Any, now: dt.datetime, code: str, base: float) -> None:
    """A coin whose live ticks cover only the last 70 minutes, with 10 days of history."""
    ticks = [
        [code, now - dt.timedelta(minutes=m), "demo", "USD", 1, base * (1 - 0.0001 * m), 1.0,
         [], 0, m, now]
        for m in range(0, 71, 5)
    ]  # fmt: skip
    client.insert("crypto.coins_ticks", ticks, column_names=TICK_COLUMNS)
    history = []
    for back in range(1, 11):
        noon = dt.datetime.combine(now.date() - dt.timedelta(days=back), dt.time(12), dt.UTC)
        history.append([code, noon, "demo", "USD", 1, base * (1 + 0.001 * back), 0, back, noon])
    client.insert("crypto.coins_history", history, column_names=HISTORY_COLUMNS)


async def test_top_shows_coins_prices_detail_and_health(clickhouse: Any, now: dt.datetime) -> None:
    _store_ticks(clickhouse, now)
    _store_history(clickhouse, now.date())
    _store_recent_only(clickhouse, now, "SOL", 150.0)
    refresh_snapshots(clickhouse)
    app = TopApp(Store(clickhouse, "test store"), refresh_seconds=3600, credits=lambda: "demo")
    async with app.run_test(size=(160, 50)) as pilot:
        await _settle(app, pilot)
        coins = app.query_one("#coins", DataTable)
        assert coins.row_count == 3
        rows = {_cells(coins, i)[0]: _cells(coins, i) for i in range(3)}
        assert rows["BTC"][1] == "90,000.00"
        assert rows["ETH"][1] == "3,000.00"
        # 1 h: the newest minute against the last close 60-75 min before it (60 min ago here)
        assert rows["BTC"][2] == f"{(1 / (1 - 0.0060) - 1) * 100:+.2f}%"
        assert rows["BTC"][3] == f"{(1 / (1 - 0.1440) - 1) * 100:+.2f}%"
        # 7 d: no live ticks that old, so the last backfilled noon close 7-8 days before is used
        back = 7 if now.hour >= 12 else 8
        assert rows["ETH"][4] == f"{(1 / (1 + 0.001 * back) - 1) * 100:+.2f}%"
        # 24 h without live ticks that old: the last backfilled noon close 24-48 h before
        back_24h = 1 if now.hour >= 12 else 2
        assert rows["SOL"][3] == f"{(1 / (1 + 0.001 * back_24h) - 1) * 100:+.2f}%"
        assert rows["SOL"][4] == f"{(1 / (1 + 0.001 * back) - 1) * 100:+.2f}%"
        assert len(rows["BTC"][6]) == 24  # 24 h sparkline: the last 24 of 96 quarter-hours
        assert app.snapshot is not None
        assert app.snapshot.coins[0].sparkline

        # selecting a coin shows its detail
        await pilot.click("#coins")
        target = [_cells(coins, i)[0] for i in range(3)].index("ETH")
        coins.move_cursor(row=target)
        await _settle(app, pilot)
        assert app.selected == "ETH"
        title = str(app.query_one("#detail_title", Static).render())
        assert "ETH minute OHLC" in title
        minutes = app.query_one("#minutes", DataTable)
        assert minutes.row_count == 37  # 3 h of 5-minute ticks, both ends included
        assert _cells(minutes, 0)[4] == "3,000.00"
        daily = app.query_one("#daily", DataTable)
        assert daily.row_count == 60  # the last 60 days (today too once live ticks pass noon)
        by_day = {_cells(daily, i)[0]: _cells(daily, i) for i in range(daily.row_count)}
        yesterday = by_day[(now.date() - dt.timedelta(days=1)).isoformat()]
        assert yesterday[1] == f"{3000 * 1.001:,.2f}"
        expected_sma_10 = sum(3000 * (1 + 0.001 * b) for b in range(1, 11)) / 10
        assert yesterday[2] == f"{expected_sma_10:,.2f}"
        assert yesterday[5] == "—"  # 60 days of closes: no SMA 200
        assert yesterday[6] == "0.0"  # closes fall day after day: only losses

        health = app.query_one("#health", Static)
        text = str(health.render())
        assert "newest live tick" in text
        assert "ingestion errors last hour: 0" in text
        assert "demo" in text
        assert app.live_fresh is True
        assert not health.has_class("stale")


async def test_a_store_that_stops_receiving_ticks_turns_freshness_red(
    clickhouse: Any, now: dt.datetime
) -> None:
    _store_ticks(clickhouse, now, last_tick_minutes_ago=10)
    app = TopApp(Store(clickhouse, "test store"), refresh_seconds=3600, stale_after_seconds=60)
    async with app.run_test(size=(160, 50)) as pilot:
        await _settle(app, pilot)
        health = app.query_one("#health", Static)
        assert app.live_fresh is False
        assert health.has_class("stale")
        assert "newest live tick 10 min ago STALE" in str(health.render())


async def test_fresh_ticks_clear_the_red(clickhouse: Any, now: dt.datetime) -> None:
    _store_ticks(clickhouse, now, last_tick_minutes_ago=10)
    app = TopApp(Store(clickhouse, "test store"), refresh_seconds=3600, stale_after_seconds=60)
    async with app.run_test(size=(160, 50)) as pilot:
        await _settle(app, pilot)
        assert app.query_one("#health", Static).has_class("stale")
        _store_ticks(clickhouse, dt.datetime.now(dt.UTC))
        await pilot.press("r")
        await _settle(app, pilot)
        assert app.live_fresh is True
        assert not app.query_one("#health", Static).has_class("stale")


async def test_an_empty_store_says_what_to_run(clickhouse: Any) -> None:
    app = TopApp(Store(clickhouse, "test store"), refresh_seconds=3600)
    async with app.run_test(size=(160, 50)) as pilot:
        await _settle(app, pilot)
        message = app.query_one("#message", Static)
        assert message.display
        assert str(message.render()) == EMPTY_STORE
        assert "make local" in EMPTY_STORE
        assert app.query_one("#coins", DataTable).row_count == 0


async def test_the_sql_box_runs_a_query_in_the_same_process(clickhouse: Any) -> None:
    app = TopApp(Store(clickhouse, "test store"), refresh_seconds=3600)
    async with app.run_test(size=(160, 50)) as pilot:
        await _settle(app, pilot)
        await pilot.press("s")
        await pilot.press(*"SELECT 6 * 7 AS answer")
        await pilot.press("enter")
        await _settle(app, pilot)
        result = app.query_one("#sql_result", DataTable)
        assert [str(c.label) for c in result.columns.values()] == ["answer"]
        assert _cells(result, 0) == ["42"]


class _UnreachableClient:
    def query(self, *_args: Any, **_kwargs: Any) -> Any:
        raise ConnectionRefusedError("Connection refused: localhost:8123")


async def test_an_unreachable_store_is_said_and_retried_not_fatal(clickhouse: Any) -> None:
    app = TopApp(Store(_UnreachableClient(), "ClickHouse server"), refresh_seconds=3600)
    async with app.run_test(size=(160, 50)) as pilot:
        await _settle(app, pilot)
        message = app.query_one("#message", Static)
        assert str(message.render()) == (
            "Cannot read ClickHouse server: Connection refused: localhost:8123. Retrying."
        )
        assert app.query_one("#health", Static).has_class("stale")
        app.store = Store(clickhouse, "test store")
        app.queries = DashboardQueries(app.store.query)
        await pilot.press("r")
        await _settle(app, pilot)
        assert str(app.query_one("#message", Static).render()) == EMPTY_STORE
        assert app.is_running
