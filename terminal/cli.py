"""``coins top`` and ``coins sql``: which store, then the dashboard or one query's result.

The store is the ClickHouse server given by ``--clickhouse URL`` / ``COINS_CLICKHOUSE_URL``
(a clickhouse-connect DSN, e.g. ``http://admin:admin-local-only@localhost:8123``), else the
embedded store of ``make local`` (``COINS_LOCAL_DIR``, default ``.local``). While ``make
local`` runs it holds the embedded store (chDB: one process per data path), and its own
dashboard is the place to query it (press ``s``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from embedded.settings import LocalSettings
from terminal.store import StoreUnavailableError, opened


def add_commands(commands: Any) -> None:
    """Add ``top`` and ``sql`` to the ``coins`` command line."""
    top = commands.add_parser("top", help="live terminal dashboard of the stored prices")
    top.add_argument("--clickhouse", metavar="URL", help="a ClickHouse server (DSN)")
    sql = commands.add_parser("sql", help="print one query's result from the configured store")
    sql.add_argument("query", help='e.g. "SELECT * FROM crypto.coin_overview"')
    sql.add_argument("--clickhouse", metavar="URL", help="a ClickHouse server (DSN)")
    sql.add_argument("--format", choices=("table", "tsv"), default="table")


def _url(args: argparse.Namespace, settings: LocalSettings) -> str | None:
    if args.clickhouse:
        return str(args.clickhouse)
    return settings.clickhouse_dsn()


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str:
    cells = [[str(c) for c in columns]] + [
        ["NULL" if v is None else str(v) for v in r] for r in rows
    ]
    if fmt == "tsv":
        return "\n".join("\t".join(row) for row in cells)
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def run(args: argparse.Namespace) -> int:
    try:
        settings = LocalSettings()
    except ValidationError as error:
        print(f"invalid configuration: {error}", file=sys.stderr)
        return 2
    try:
        with opened(_url(args, settings), settings.clickhouse_dir) as store:
            if args.command == "sql":
                try:
                    columns, rows = store.query_table(args.query)
                except Exception as error:
                    print(f"query failed: {str(error).strip().splitlines()[0]}", file=sys.stderr)
                    return 1
                if columns:
                    print(render_table(columns, rows, args.format))
                return 0
            from terminal.app import TopApp
            from terminal.credits import credits_line

            TopApp(
                store,
                refresh_seconds=settings.top_refresh_seconds,
                stale_after_seconds=settings.top_stale_after_seconds,
                credits=credits_line,
            ).run()
            return 0
    except StoreUnavailableError as error:
        print(f"coins {args.command}: {error}", file=sys.stderr)
        return 1
