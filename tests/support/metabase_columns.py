"""Which result columns a card's visualization settings refer to.

A chart whose settings name a column the query does not return renders empty in Metabase
without an error, so the tests check every name found here against the real result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

# Settings whose value is one column name or a list of column names.
_COLUMN_NAME_SETTINGS = (
    "graph.dimensions",
    "graph.metrics",
    "scalar.field",
    "pie.dimension",
    "pie.metric",
    "map.dimension",
    "map.metric",
    "funnel.dimension",
    "funnel.metric",
    "table.pivot_column",
    "table.cell_column",
)


def _names(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                yield item


def _column_settings_key(key: str) -> str | None:
    # Metabase keys column_settings by a JSON array: ["name", "<column>"] for native results.
    try:
        decoded = json.loads(key)
    except json.JSONDecodeError:
        return None
    if isinstance(decoded, list) and len(decoded) == 2 and decoded[0] == "name":
        column = decoded[1]
        return column if isinstance(column, str) else None
    return None


def referenced_columns(settings: Mapping[str, Any]) -> set[str]:
    """Every result column name the settings mention."""
    columns: set[str] = set()
    for setting in _COLUMN_NAME_SETTINGS:
        columns.update(_names(settings.get(setting)))
    for entry in settings.get("table.columns", []) or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            columns.add(entry["name"])
    for key in settings.get("column_settings", {}) or {}:
        column = _column_settings_key(key)
        if column is not None:
            columns.add(column)
    columns.update(key for key in settings.get("series_settings", {}) or {})
    return columns
