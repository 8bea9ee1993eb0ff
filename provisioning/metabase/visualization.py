"""Visualization settings as Metabase stores them: its migration, to compare desired and stored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Metabase migrates visualization settings when it saves and when it reads a card or dashcard
# (`:visualization-settings` type in src/metabase/models/interface.clj, versioning by
# src/metabase/models/json_migration.clj): settings without `version` are version 1, and the
# 1 -> 2 migration sets `pie.percent_visibility` from `pie.show_legend` ("inside") or
# `pie.show_legend_perecent` [sic] ("legend"), adding `version: 2` only when it changed
# something. Metabase's own test: {pie.show_legend: true} is stored as
# {version: 2, pie.show_legend: true, pie.percent_visibility: "inside"}.
VISUALIZATION_SETTINGS_VERSION = 2


def migrate_visualization_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings as Metabase stores and returns them (its ``migrate-viz-settings``)."""
    migrated = dict(settings)
    if settings.get("version", 1) == VISUALIZATION_SETTINGS_VERSION:
        return migrated
    if settings.get("pie.show_legend"):
        migrated["pie.percent_visibility"] = "inside"
    elif settings.get("pie.show_legend_perecent"):
        migrated["pie.percent_visibility"] = "legend"
    if migrated != dict(settings):
        migrated["version"] = VISUALIZATION_SETTINGS_VERSION
    return migrated


def without_migration_version(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Migrated settings without Metabase's bookkeeping ``version`` key (what a file holds)."""
    migrated = migrate_visualization_settings(settings)
    migrated.pop("version", None)
    return migrated


def same_visualization_settings(desired: Mapping[str, Any], stored: Mapping[str, Any]) -> bool:
    """True when Metabase would store ``desired`` as ``stored`` (equal modulo its migrations)."""
    return without_migration_version(desired) == without_migration_version(stored)
