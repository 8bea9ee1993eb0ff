"""Dashboard query latency: what the dashboards read (snapshot tables refreshed every minute by
refreshable materialized views, or live views over the rollups) versus the same results computed
from raw ticks, as the original project's views did.

Loads N ticks (default 30 million = 10 coins x one year at 10 s) into coins_ticks through
mv_coins_ticks's own conversion, so the materialized views build the rollups exactly as in
production (30 M messages through the broker would take hours here), then runs one refresh of every
snapshot (and reports what a refresh costs). For every query a dashboard uses, the raw
equivalent is the defining view's SQL with each rollup replaced by a scan of crypto.coins_ticks
(the original had no rollups: every view aggregated the raw table). The live view is timed too,
for reference. Everything runs in the same engine, same run; the median of several runs is
reported. Periodic refreshes are stopped while timing, so they do not disturb the figures.

Usage: .venv/bin/python benchmarks/bench_clickhouse_queries.py [--ticks N] [--runs N]
Goal: every dashboard query at least 20x faster than its raw-scan equivalent.
"""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import dataclass
from typing import Any

from clickhouse_bench_data import (
    INIT_DIR,
    load_ticks,
    median_seconds,
    open_engine,
    refresh_every_snapshot,
)

GOAL = 20.0
_VIEW_HEADER = re.compile(r"CREATE VIEW IF NOT EXISTS crypto\.(\w+) AS\s")
_NOON = "toUnixTimestamp64Milli(ts) % 86400000 <= 43200000"
_LAST_TICK_LOOKUP = (
    "WHERE (code, ts) IN (SELECT code, max(last_tick_at) FROM crypto.rollup_ohlc_day GROUP BY code)"
)


@dataclass(frozen=True)
class DashboardQuery:
    """What a dashboard runs, and the live view that defines its result."""

    dashboard_sql: str
    definition_sql: str


def live(sql: str) -> DashboardQuery:
    return DashboardQuery(sql, sql)


def snapshot_of(view: str) -> DashboardQuery:
    return DashboardQuery(f"SELECT * FROM crypto.{view}_snapshot", f"SELECT * FROM crypto.{view}")


# ingestion_health's WHERE on coins_ticks (with its comment), bounded by a rollup subquery
_RECENT_TICKS_BOUND = re.compile(
    r"\n(?:\s*--[^\n]*\n)*\s*WHERE ts >= least\(.*?rollup_ohlc_day.*?\n\s*\)(?=\s*GROUP BY)",
    re.DOTALL,
)


# The dashboard queries (what the Metabase cards run), by name.
DASHBOARD_QUERIES = {
    "overview (latest price, deltas, ATH)": live("SELECT * FROM crypto.coin_overview"),
    "daily OHLC, all coins, whole history": live("SELECT * FROM crypto.ohlc_daily_live"),
    "minute OHLC, last 24 h": live(
        "SELECT * FROM crypto.ohlc_minute_live WHERE minute >= now() - INTERVAL 1 DAY"
    ),
    "% change vs previous tick, last 24 h": live("SELECT * FROM crypto.tick_change"),
    "daily close (12:00 UTC)": live("SELECT * FROM crypto.daily_close"),
    "1 d / 7 d change, latest": snapshot_of("change_latest"),
    "SMA 10/30/50/200": snapshot_of("moving_averages_daily"),
    "EMA 12/26 + MACD": snapshot_of("ema_macd_daily"),
    "RSI 14": snapshot_of("rsi_daily"),
    "Bollinger 20, 2": snapshot_of("bollinger_daily"),
    "risk per day": snapshot_of("risk_daily"),
    "risk summary": snapshot_of("risk_summary"),
    "returns": snapshot_of("performance_returns"),
    "winners / losers": snapshot_of("performance_ranking"),
    "ingestion health": live("SELECT * FROM crypto.ingestion_health"),
}


def view_bodies() -> dict[str, str]:
    bodies = {}
    for path in sorted(INIT_DIR.glob("*_view_*.sql")):
        text = path.read_text()
        header = _VIEW_HEADER.search(text)
        assert header is not None, path
        bodies[header.group(1)] = text[header.end() :].strip().rstrip(";")
    return bodies


def raw_bodies(bodies: dict[str, str]) -> dict[str, str]:
    """The original's approach: every view computed from crypto.coins_ticks, no rollup."""
    raw = dict(bodies)
    raw["ohlc_daily_live"] = (
        "SELECT code, toDate(ts) AS day, argMin(rate, ts) AS open, max(rate) AS high, "
        "min(rate) AS low, argMax(rate, ts) AS close, argMax(volume, ts) AS volume_24h, "
        "uniqExact(ts) AS tick_count FROM crypto.coins_ticks GROUP BY code, day"
    )
    raw["ohlc_minute_live"] = (
        "SELECT code, toStartOfMinute(ts) AS minute, argMin(rate, ts) AS open, max(rate) AS high, "
        "min(rate) AS low, argMax(rate, ts) AS close, argMax(volume, ts) AS volume_24h, "
        "uniqExact(ts) AS tick_count FROM crypto.coins_ticks GROUP BY code, minute"
    )
    live_close = bodies["daily_close"]
    rollup_part = live_close[
        live_close.index("    SELECT\n        code,\n        day,\n        noon.1") :
    ]
    raw["daily_close"] = live_close.replace(
        rollup_part,
        "    SELECT code, toDate(ts) AS day, argMax(rate, ts) AS candidate_close,\n"
        "        max(ts) AS candidate_ts,\n"
        f"        'live' AS candidate_source, 0 AS source_priority\n"
        f"    FROM crypto.coins_ticks WHERE {_NOON} GROUP BY code, day\n)\nGROUP BY code, day",
    )
    raw["coin_overview"] = (
        bodies["coin_overview"]
        .replace(_LAST_TICK_LOOKUP, "")
        .replace(
            "SELECT code, max(high) AS high FROM crypto.rollup_ohlc_day GROUP BY code",
            "SELECT code, max(rate) AS high FROM crypto.coins_ticks GROUP BY code",
        )
    )
    # the live part without the rollup's bound on the scan: every tick of every coin
    raw["ingestion_health"], bounds_removed = _RECENT_TICKS_BOUND.subn(
        "", bodies["ingestion_health"]
    )
    assert bounds_removed == 1, "ingestion_health: the bound on coins_ticks was not found"
    raw["tick_change"] = bodies["tick_change"].replace(
        "WHERE ts >= now64(3, 'UTC') - INTERVAL 48 HOUR", ""
    )
    for name, changed in (
        ("coin_overview", raw["coin_overview"]),
        ("daily_close", raw["daily_close"]),
        ("ingestion_health", raw["ingestion_health"]),
    ):
        assert "rollup_ohlc_day" not in changed, name
    # without snapshots, whatever reads a snapshot table computes its view instead
    for name in bodies:
        raw[f"{name}_snapshot"] = f"SELECT * FROM crypto.{name}"
    return raw


def expand(sql: str, bodies: dict[str, str]) -> str:
    """Inline every crypto.<view> reference with its body, recursively."""
    pattern = re.compile(r"crypto\.(" + "|".join(sorted(bodies, key=len, reverse=True)) + r")\b")
    while True:
        expanded = pattern.sub(lambda m: f"({bodies[m.group(1)]})", sql)
        if expanded == sql:
            return sql
        sql = expanded


def run_query(client: Any, sql: str) -> None:
    client.command(sql + " FORMAT Null")


def row_count(client: Any, sql: str) -> int:
    return int(client.query(f"SELECT count() FROM ({sql})").result_rows[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ticks", type=int, default=30_000_000, help="ticks to load (default 30M)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per query (default 3)")
    args = parser.parse_args()

    client = open_engine()
    load_seconds = load_ticks(client, args.ticks, int(time.time() * 1000))
    print(
        f"loaded {args.ticks:,} ticks through mv_coins_ticks's conversion and the rollup views "
        f"in {load_seconds:.0f} s "
        f"({args.ticks / load_seconds:,.0f} rows/s, generation included)"
    )
    refresh_ms = refresh_every_snapshot(client)
    slowest = max(refresh_ms, key=refresh_ms.__getitem__)
    print(
        f"one refresh of every snapshot: {sum(refresh_ms.values()):,.0f} ms in total "
        f"(slowest {refresh_ms[slowest]:,.0f} ms, {slowest}); "
        "periodic refreshes stopped while timing"
    )
    client.command("SYSTEM STOP VIEWS")
    raw = raw_bodies(view_bodies())

    print(
        f"{'dashboard query':38} {'rows':>8} {'dashboard ms':>13} {'live view ms':>13} "
        f"{'raw ms':>10} {'speed-up':>9}"
    )
    ratios = []
    for name, query in DASHBOARD_QUERIES.items():
        raw_sql = expand(query.definition_sql, raw)
        rows = row_count(client, query.dashboard_sql)
        for other in (query.definition_sql, raw_sql):
            other_rows = row_count(client, other)
            assert rows == other_rows, f"{name}: dashboard {rows} rows, {other_rows} from {other}"
        fast = median_seconds(lambda s=query.dashboard_sql: run_query(client, s), args.runs)
        if query.definition_sql == query.dashboard_sql:
            view = fast
        else:
            view = median_seconds(lambda s=query.definition_sql: run_query(client, s), args.runs)
        slow = median_seconds(lambda s=raw_sql: run_query(client, s), args.runs)
        ratios.append((slow / fast, name))
        print(
            f"{name:38} {rows:>8,} {fast * 1000:>13.1f} {view * 1000:>13.1f} "
            f"{slow * 1000:>10.1f} {slow / fast:>8.1f}x"
        )

    worst_ratio, worst_name = min(ratios)
    met = sum(ratio >= GOAL for ratio, _ in ratios)
    print(
        f"ClickHouse dashboard queries on {args.ticks:,} ticks: {met}/{len(ratios)} at least "
        f"{GOAL:.0f}x faster than the raw scan; slowest speed-up {worst_ratio:.1f}x ({worst_name})"
    )


if __name__ == "__main__":
    main()
