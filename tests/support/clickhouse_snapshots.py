"""The dashboard snapshots of clickhouse/init: which refreshable materialized view writes which
snapshot table from which view, and a synchronous refresh for tests and benchmarks.

A snapshot is refreshed in the background every minute; tests cannot wait for the schedule, so
they run one refresh themselves with ``SYSTEM REFRESH VIEW`` + ``SYSTEM WAIT VIEW``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedded.clickhouse import INIT_DIR, sql_files

_REFRESHABLE = re.compile(
    r"CREATE\s+MATERIALIZED\s+VIEW\s+IF\s+NOT\s+EXISTS\s+crypto\.(?P<refresh>\w+)\s+"
    r"REFRESH\s+EVERY\s+(?P<period>\d+\s+\w+)\s+"
    r"(?:DEPENDS\s+ON\s+(?P<depends_on>crypto\.\w+(?:\s*,\s*crypto\.\w+)*)\s+)?"
    r"TO\s+crypto\.(?P<snapshot>\w+)\s+"
    r"AS\s+SELECT\s+(?P<columns>.+?)\s+FROM\s+crypto\.(?P<view>\w+)\s*;",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class Snapshot:
    """One snapshot table, the view it copies and the refreshable view that copies it."""

    view: str
    snapshot: str
    refresh: str
    period: str
    # the refreshable views whose refresh this one waits for (``DEPENDS ON``), without database
    depends_on: tuple[str, ...] = ()


def snapshots(directory: Path = INIT_DIR) -> list[Snapshot]:
    """Every refreshable materialized view declared in ``directory``, in file order."""
    found = []
    for path in sql_files(directory):
        match = _REFRESHABLE.search(path.read_text())
        if match is not None:
            found.append(
                Snapshot(
                    view=match.group("view"),
                    snapshot=match.group("snapshot"),
                    refresh=match.group("refresh"),
                    period=" ".join(match.group("period").split()).upper(),
                    depends_on=tuple(re.findall(r"crypto\.(\w+)", match.group("depends_on") or "")),
                )
            )
    return found


def refresh_snapshots(client: Any, selected: Iterable[Snapshot] | None = None) -> None:
    """Refresh each snapshot once, synchronously, so it reflects every row already stored.

    In file order, which puts every refresh after the ones it ``DEPENDS ON`` (a test checks it):
    a manual ``SYSTEM REFRESH VIEW`` runs at once, it does not wait for its dependencies.

    The first WAIT lets a scheduled refresh that may have started before the caller's last
    insert finish; the refresh after it then starts later than that insert. A refresh replaces
    the whole table, so whatever an earlier one wrote is gone.
    """
    for item in snapshots() if selected is None else selected:
        client.command(f"SYSTEM WAIT VIEW crypto.{item.refresh}")
        client.command(f"SYSTEM REFRESH VIEW crypto.{item.refresh}")
        client.command(f"SYSTEM WAIT VIEW crypto.{item.refresh}")
