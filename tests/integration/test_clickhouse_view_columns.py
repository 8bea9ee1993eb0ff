"""The view columns listed in clickhouse/init/README.md (what the Metabase cards are written
against) are exactly the columns the views have."""

from __future__ import annotations

import re
from typing import Any

from embedded.clickhouse import INIT_DIR

README = (INIT_DIR / "README.md").read_text()
VALUE_WORDS = {"history", "live", "1d", "7d", "30d", "90d", "ytd", "since_first"}


def documented_columns() -> dict[str, list[str]]:
    section = README[README.index("## Views and their columns") :]
    documented: dict[str, list[str]] = {}
    for match in re.finditer(r"^\| `(\w+)` \| [^|]+ \| (.+) \|$", section, re.MULTILINE):
        view, cell = match.groups()
        if cell.startswith("same columns as `"):
            documented[view] = documented[re.findall(r"`(\w+)`", cell)[0]]
            continue
        names = [n.strip() for chunk in re.findall(r"`([^`]+)`", cell) for n in chunk.split(",")]
        documented[view] = [name for name in names if name and name not in VALUE_WORDS]
    return documented


def test_readme_documents_every_view_with_its_exact_columns(clickhouse: Any) -> None:
    views = {
        row[0]
        for row in clickhouse.query(
            "SELECT name FROM system.tables WHERE database = 'crypto' AND engine = 'View'"
        ).result_rows
    }
    documented = documented_columns()
    assert set(documented) == views
    for view, columns in documented.items():
        actual = [row[0] for row in clickhouse.query(f"DESCRIBE TABLE crypto.{view}").result_rows]
        assert sorted(actual) == sorted(columns), view
