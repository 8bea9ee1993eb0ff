"""What the tests need of the project's ClickHouse schema beyond ``embedded.clickhouse``:
its databases, and emptying their stored tables between tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from embedded.clickhouse import INIT_DIR, sql_files, strip_comments, unquote


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
