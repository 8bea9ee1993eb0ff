"""What the tests need of the project's ClickHouse schema beyond ``embedded.clickhouse``:
its databases, emptying their stored tables between tests, rows as dicts, and a snapshot of
every view to compare before and after a delivery fault."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from embedded.clickhouse import INIT_DIR, sql_files, strip_comments, unquote
from tests.support.waiting import eventually


def project_databases(directory: Path = INIT_DIR) -> list[str]:
    """Databases the init SQL creates (``CREATE DATABASE [IF NOT EXISTS] name``)."""
    names: list[str] = []
    for path in sql_files(directory):
        for match in re.finditer(
            r"CREATE\s+DATABASE\s+(?:IF\s+NOT\s+EXISTS\s+)?([`\"\w]+)",
            strip_comments(path.read_text()),
            re.IGNORECASE,
        ):
            names.append(unquote(match.group(1)))
    return names


def truncate_project_tables(client: Any, databases: list[str]) -> None:
    """Empty every stored table (MergeTree family, Memory, Log) of the given databases."""
    if not databases:
        return
    rows = client.query(
        "SELECT database, name FROM system.tables "
        "WHERE database IN {databases:Array(String)} "
        "AND (engine LIKE '%MergeTree' OR engine IN ('Memory', 'Log', 'TinyLog', 'StripeLog')) "
        # the temporary tables a refreshable materialized view fills before swapping them in
        "AND NOT startsWith(name, '.') AND NOT startsWith(name, '_tmp_replace_')",
        parameters={"databases": databases},
    ).result_rows
    for database, name in rows:
        client.command(f"TRUNCATE TABLE IF EXISTS `{database}`.`{name}`")


def assigned_topics(client: Any) -> dict[str, list[str]]:
    """Kafka table -> the topics its consumers are assigned now (``system.kafka_consumers``)."""
    found = client.query(
        "SELECT concat(database, '.', table), arraySort(groupUniqArrayArray(assignments.topic)) "
        "FROM system.kafka_consumers WHERE database = 'crypto' GROUP BY database, table"
    ).result_rows
    return {str(name): list(topics) for name, topics in found}


def wait_every_table_assigned(client: Any, tables: Iterable[str]) -> dict[str, list[str]]:
    """Until every Kafka table's consumer joined its group and got partitions (the state a
    running stack is in a minute after start; an empty topic is "consumed" before that)."""
    return eventually(
        lambda: assigned_topics(client),
        until=lambda assigned: all(assigned.get(name) for name in tables),
        within=120.0,
        what="every Kafka table assigned partitions",
        interval=0.5,
    )


def rows(client: Any, sql: str) -> list[dict[str, Any]]:
    """The result of ``sql``, one dict per row keyed by column name."""
    result = client.query(sql)
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


# Every view, with what depends on the wall clock left out: tick_change is cut at a time given
# inside its sliding 24 h window, live rows_last_hour would move as ticks age past one hour.
VIEW_SNAPSHOTS = {
    "ohlc_minute_live": "*",
    "ohlc_daily_live": "*",
    "tick_change": "*",
    "coin_overview": "*",
    "history_daily": "*",
    "daily_close": "*",
    "change_by_day": "*",
    "change_latest": "*",
    "ksql_ohlc_minute_final": "*",
    "ksql_moving_average_60s_final": "*",
    "moving_averages_daily": "*",
    "ema_macd_daily": "*",
    "rsi_daily": "*",
    "bollinger_daily": "*",
    "risk_daily": "*",
    "risk_summary": "*",
    "performance_returns": "*",
    "performance_ranking": "*",
    "ingestion_health": (
        "dataset, code, source, last_tick_at, if(dataset = 'history', rows_last_hour, 0)"
    ),
    "ingestion_errors_by_topic": "topic, errors_total, errors_last_hour",
}


def snapshot(client: Any, tick_change_since: datetime) -> dict[str, list[tuple[Any, ...]]]:
    """Every view's rows (floats rounded), tick_change only from ``tick_change_since``: a
    moment that stays inside its 24 h window for the whole test."""
    cutoff = tick_change_since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    result = {}
    for view, columns in VIEW_SNAPSHOTS.items():
        where = f" WHERE ts >= toDateTime64('{cutoff}', 3, 'UTC')" if view == "tick_change" else ""
        query = f"SELECT {columns} FROM crypto.{view}{where} ORDER BY ALL"
        result[view] = [
            tuple(round(v, 6) if isinstance(v, float) else v for v in row)
            for row in client.query(query).result_rows
        ]
    return result
