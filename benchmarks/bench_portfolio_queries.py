"""Portfolio dashboard queries: what the Portfolio cards read (snapshot tables refreshed every
minute, and the two live views) versus the same figures computed from raw ticks, in one run.

Loads N ticks (default 30 million, the generator of clickhouse_bench_data.py, through the Kafka
table and its materialized views) and T transactions (default 10,000: 5 portfolios x 10 coins,
buys and partial sells spread over the ticks' year, half at "market" price) through the
portfolio Kafka table, then watches one refresh cycle of every snapshot as the server schedules
it (at a minute boundary; the portfolio's priced transactions first, the snapshots built on them
after, DEPENDS ON) and times every Portfolio card for one portfolio. The raw equivalent is the
defining view with every rollup and snapshot replaced by what it copies, the rollups by a scan
of crypto.coins_ticks (bench_clickhouse_queries.raw_bodies: the daily close and the latest price
from raw ticks), as a stack without rollups or snapshots would compute it. Median of --runs.

Usage: .venv/bin/python benchmarks/bench_portfolio_queries.py [--ticks N] [--transactions N]
Goals: every Portfolio card at least 20x faster than its raw-scan equivalent; one refresh cycle
of every snapshot well within its one-minute schedule.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench_clickhouse_queries import expand, raw_bodies, row_count, run_query, view_bodies
from clickhouse_bench_data import (
    COINS,
    SPACING_MS,
    load_ticks,
    median_seconds,
    open_embedded_engine,
    publish_messages,
    scheduled_refresh_cycle,
)

GOAL = 20.0
SCHEDULE_S = 60.0  # REFRESH EVERY 1 MINUTE
PORTFOLIOS = 5
SHOWN = "bench-1"

# Each card of metabase/dashboards/portfolio.yaml, with the filter set to one portfolio:
# (what the card reads, the live view that defines it).
CARDS = {
    "value now": ("portfolio_live_value", "portfolio_live_value"),
    "returns and risk": ("portfolio_performance_snapshot", "portfolio_performance"),
    "value over time vs BTC only": ("portfolio_vs_btc_snapshot", "portfolio_vs_btc"),
    "allocation": ("portfolio_allocation", "portfolio_allocation"),
    "P&L per coin (average cost)": ("portfolio_positions_snapshot", "portfolio_positions"),
    "drawdown / daily returns": ("portfolio_returns_daily_snapshot", "portfolio_returns_daily"),
    "correlation of held coins": ("portfolio_correlation_snapshot", "portfolio_correlation"),
}


def load_transactions(engine: Any, count: int, ticks: int, end_ms: int) -> None:
    """``count`` transactions: per portfolio and coin, a buy then a sale of a third of it, in
    turns, so no sale exceeds the holding (the file would be refused otherwise); published to the
    topic as the portfolio publisher writes them, then consumed by the Kafka table."""
    first_ms = end_ms - (ticks // len(COINS)) * SPACING_MS + 2 * 86_400_000
    span_ms = end_ms - first_ms - 86_400_000
    step_ms = span_ms // (count // (PORTFOLIOS * len(COINS)) + 1)
    query = f"""
SELECT
    concat(portfolio, '/', transaction_id) AS key,
    formatRowNoNewline('JSONEachRow', schema_version, portfolio, transaction_id, kind, code,
        currency, timestamp_ms, quantity, price, fee, deleted, version_ms) AS message
FROM (
    SELECT
        1 AS schema_version,
        concat('bench-', toString(n % {PORTFOLIOS})) AS portfolio,
        concat('t', toString(n)) AS transaction_id,
        if(intDiv(n, {PORTFOLIOS * len(COINS)}) % 2 = 0, 'buy', 'sell') AS kind,
        {COINS}[intDiv(n, {PORTFOLIOS}) % {len(COINS)} + 1] AS code,
        'USD' AS currency,
        toInt64({first_ms} + intDiv(n, {PORTFOLIOS * len(COINS)}) * {step_ms}) AS timestamp_ms,
        if(kind = 'buy', '3', '1') AS quantity,
        if(n % 2 = 0, NULL, 100.0 + n % 97) AS price,
        n % 5 AS fee,
        0 AS deleted,
        toInt64(1) AS version_ms
    FROM (SELECT number AS n FROM numbers({count}))
)
"""
    table = engine.table("kafka_portfolio_transactions")
    publish_messages(engine, table.topics[0], query)
    engine.wait_caught_up(table, timeout_s=3600)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ticks", type=int, default=30_000_000, help="ticks (default 30M)")
    parser.add_argument("--transactions", type=int, default=10_000, help="default 10,000")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per query (default 3)")
    args = parser.parse_args()

    engine = open_embedded_engine()
    client = engine.client
    end_ms = int(time.time() * 1000)
    load_seconds = load_ticks(client, args.ticks, end_ms)
    load_transactions(engine, args.transactions, args.ticks, end_ms)
    stored = client.query("SELECT count() FROM crypto.portfolio_transactions").result_rows[0][0]
    assert stored == args.transactions, f"{stored} transactions stored"
    print(
        f"loaded {args.ticks:,} ticks in {load_seconds:.0f} s and {args.transactions:,} "
        f"transactions in {PORTFOLIOS} portfolios"
    )
    boundary, runs = scheduled_refresh_cycle(client)
    client.command("SYSTEM STOP VIEWS")
    cycle_s = max(run.finished_s for run in runs)
    print(f"refresh cycle of {boundary} UTC (seconds after the minute: start + duration = end):")
    for run in runs:
        print(
            f"  {run.refresh:45} {run.started_s:5.0f} + {run.duration_s:7.2f} = "
            f"{run.finished_s:7.2f}"
        )
    portfolio_s = max(run.finished_s for run in runs if run.refresh.startswith("refresh_portfolio"))
    print(
        f"portfolio snapshots done {portfolio_s:.1f} s after the minute; all {len(runs)} "
        f"snapshots {cycle_s:.1f} s, {cycle_s / SCHEDULE_S:.0%} of the {SCHEDULE_S:.0f} s schedule"
    )
    raw = raw_bodies(view_bodies())
    where = f" WHERE portfolio = '{SHOWN}'"
    print(
        f"{'Portfolio card':30} {'rows':>7} {'card ms':>9} {'live view ms':>13} "
        f"{'raw ms':>10} {'speed-up':>9}"
    )
    ratios = []
    for name, (table, view) in CARDS.items():
        card_sql = f"SELECT * FROM crypto.{table}{where}"
        view_sql = f"SELECT * FROM crypto.{view}{where}"
        raw_sql = expand(view_sql, raw)
        rows = row_count(client, card_sql)
        assert rows > 0, name
        for other in (view_sql, raw_sql):
            assert row_count(client, other) == rows, f"{name}: {other}"
        fast = median_seconds(lambda s=card_sql: run_query(client, s), args.runs)
        through_view = (
            fast
            if table == view
            else median_seconds(lambda s=view_sql: run_query(client, s), args.runs)
        )
        slow = median_seconds(lambda s=raw_sql: run_query(client, s), args.runs)
        ratios.append((slow / fast, name))
        print(
            f"{name:30} {rows:>7,} {fast * 1000:>9.1f} {through_view * 1000:>13.1f} "
            f"{slow * 1000:>10.1f} {slow / fast:>8.1f}x"
        )
    worst_ratio, worst_name = min(ratios)
    met = sum(ratio >= GOAL for ratio, _ in ratios)
    print(
        f"Portfolio dashboard on {args.ticks:,} ticks and {args.transactions:,} transactions: "
        f"{met}/{len(ratios)} cards at least {GOAL:.0f}x faster than from raw ticks; "
        f"slowest speed-up {worst_ratio:.1f}x ({worst_name}); one refresh cycle of all "
        f"{len(runs)} snapshots {cycle_s:.1f} s of its {SCHEDULE_S:.0f} s schedule"
    )


if __name__ == "__main__":
    main()
