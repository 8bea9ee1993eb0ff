"""`coins top` refresh: each of its queries at N ticks (default 30 million) against its raw-scan
equivalent, and the whole refresh.

The ticks go through the production conversion into crypto.coins_ticks (the views build the
rollups; shared generator: clickhouse_bench_data.py), every snapshot is refreshed once, then the
schedule is stopped. Each dashboard query (terminal/queries.py) is timed as it runs, and against
the same SQL with every rollup replaced by the same aggregation of crypto.coins_ticks and every
snapshot by its defining view over raw ticks (bench_clickhouse_queries.raw_bodies): what the
dashboard would cost without rollups and snapshots. Both must return the same rows.

Usage: .venv/bin/python benchmarks/bench_coins_top.py [--ticks N] [--runs N]
Goal: every query that reads a rollup or a snapshot at least 20x faster than its raw scan.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

from bench_clickhouse_queries import expand, raw_bodies, view_bodies
from clickhouse_bench_data import (
    COINS,
    load_ticks,
    median_seconds,
    open_engine,
    refresh_every_snapshot,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from terminal import queries
from terminal.store import Store

GOAL = 20.0
RAW_MINUTE = """(
    SELECT code, toStartOfMinute(ts) AS minute,
           argMinState(rate, ts) AS open, argMaxState(rate, ts) AS close,
           max(rate) AS high, min(rate) AS low, argMaxState(volume, ts) AS volume_24h,
           groupBitmapState(toUInt32(toUnixTimestamp64Milli(ts) % 60000)) AS tick_offsets
    FROM crypto.coins_ticks GROUP BY code, minute
)"""
RAW_DAY = """(
    SELECT code, toDate(ts) AS day, argMaxState(rate, ts) AS close,
           argMaxState(volume, ts) AS volume_24h, max(ts) AS last_tick_at
    FROM crypto.coins_ticks GROUP BY code, day
)"""
_SNAPSHOT = re.compile(r"crypto\.(\w+)_snapshot\b")


def raw_equivalent(sql: str, bodies: dict[str, str]) -> str:
    """The query with each rollup aggregated from raw ticks and each snapshot recomputed."""
    sql = str(expand(sql, bodies))
    # after the expansion, so the rollups a view reads are replaced too
    return sql.replace("crypto.rollup_ohlc_minute", RAW_MINUTE).replace(
        "crypto.rollup_ohlc_day", RAW_DAY
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ticks", type=int, default=30_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    client = open_engine()
    load_seconds = load_ticks(client, args.ticks, int(time.time() * 1000))
    print(
        f"loaded {args.ticks:,} ticks into coins_ticks (rollup views run) in {load_seconds:.0f} s"
    )
    refresh_every_snapshot(client)
    client.command("SYSTEM STOP VIEWS")
    bodies = raw_bodies(view_bodies())
    selected = COINS[0]

    def rows(sql: str, parameters: dict[str, Any] | None) -> list[Any]:
        return list(client.query(sql, parameters=parameters).result_rows)

    # the detail ends at the coin's newest tick, which the dashboard takes from the overview
    until = {row[0]: row[3] for row in rows(queries.OVERVIEW_SQL, None)}[selected]
    detail = {"code": selected, "until": until, "hours": 3, "days": 60}
    top_queries: dict[str, tuple[str, dict[str, Any] | None]] = {
        "overview (price, 1 h/24 h/7 d, volume)": (queries.OVERVIEW_SQL, None),
        "24 h sparklines": (queries.SPARKLINE_SQL, None),
        "health": (queries.HEALTH_SQL, None),
        "minute OHLC, last 3 h, one coin": (queries.MINUTES_SQL, detail),
        "daily close + SMA + RSI, one coin": (queries.DAILY_SQL, detail),
    }

    print(
        f"{'coins top query':40} {'rows':>6} {'top ms':>9} {'live views ms':>14} {'raw ms':>10} "
        f"{'speed-up':>9}"
    )
    ratios, raw_total = [], 0.0
    for name, (sql, parameters) in top_queries.items():
        raw_sql = raw_equivalent(sql, bodies)
        assert "rollup_ohlc" not in raw_sql, name
        assert "_snapshot" not in raw_sql, name
        fast_rows = rows(sql, parameters)
        if raw_sql == sql:
            # reads neither a rollup nor a snapshot (health: history, ksqlDB windows, errors;
            # the newest tick's age comes from the overview's rows): nothing to compare
            fast = median_seconds(lambda s=sql, p=parameters: rows(s, p), args.runs)
            raw_total += fast
            print(
                f"{name:40} {len(fast_rows):>6} {fast * 1000:>9.1f} {'=':>14} {'=':>10} "
                f"{'no rollup':>9}"
            )
            continue
        raw_rows = rows(raw_sql, parameters)
        assert len(fast_rows) == len(raw_rows) > 0, f"{name}: {len(fast_rows)} vs {len(raw_rows)}"
        fast = median_seconds(lambda s=sql, p=parameters: rows(s, p), args.runs)
        # the same query through the live views a snapshot copies (for reference)
        live_sql = _SNAPSHOT.sub(lambda m: f"crypto.{m.group(1)}", sql)
        live = (
            fast
            if live_sql == sql
            else median_seconds(lambda s=live_sql, p=parameters: rows(s, p), args.runs)
        )
        raw = median_seconds(lambda s=raw_sql, p=parameters: rows(s, p), args.runs)
        raw_total += raw
        ratios.append((raw / fast, name))
        print(
            f"{name:40} {len(fast_rows):>6} {fast * 1000:>9.1f} {live * 1000:>14.1f} "
            f"{raw * 1000:>10.1f} {raw / fast:>8.0f}x"
        )
    dashboard = queries.DashboardQueries(Store(client, "bench").query)
    snapshot = dashboard.load(selected)
    assert snapshot.detail is not None
    assert len(snapshot.coins) == len(COINS)
    refresh = median_seconds(lambda: dashboard.load(selected), args.runs)
    worst, worst_name = min(ratios)
    print(
        f"whole refresh (schema check + the five queries): {refresh * 1000:.0f} ms; the same "
        f"results from raw scans: {raw_total * 1000:,.0f} ms ({raw_total / refresh:.0f}x)"
    )
    print(
        f"slowest ratio: {worst:.0f}x ({worst_name}); goal >= {GOAL:.0f}x: "
        f"{'met' if worst >= GOAL else 'NOT met'}"
    )
    print(
        f"coins top at {args.ticks:,} ticks: refresh {refresh * 1000:.0f} ms "
        f"({raw_total / refresh:.0f}x the raw scans), slowest query {worst:.0f}x its raw scan"
    )


if __name__ == "__main__":
    main()
