"""Which ClickHouse ``coins top`` and ``coins sql`` read: a server by URL, or the embedded store.

chDB lets ONE process hold a data path (measured, chDB 26.9: a second process gets ``Cannot lock
file <path>/status. Another server instance in same directory is already running``; threads
of the holding process share it). So while ``make local`` runs, the dashboard runs inside the
supervisor's process, and another process that wants the embedded store gets one clear line
instead of chDB's error. Queries from several threads of one process are serialised here.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from embedded.clickhouse import set_kafka_tables_aside
from producers.logs import redact
from producers.reachability import (
    CLICKHOUSE_SETTING,
    UnreachableError,
    require_clickhouse,
)


class StoreUnavailableError(RuntimeError):
    """The configured store cannot be opened (one line, meant for the user)."""


def holder_of(data_path: Path) -> str | None:
    """The process holding a chDB/ClickHouse data path, as ClickHouse wrote it; None if free."""
    status = data_path / "status"
    if not status.exists():
        return None
    with status.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            first_line = handle.read().strip().splitlines()[:1]
            return first_line[0] if first_line else "another process"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


class Store:
    """A clickhouse-connect client shared by threads of one process, one query at a time."""

    def __init__(self, client: Any, description: str) -> None:
        self.client = client
        self.description = description
        self._lock = threading.Lock()

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Sequence[Sequence[Any]]:
        with self._lock:
            return list(self.client.query(sql, parameters=parameters).result_rows)

    def query_table(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> tuple[list[str], list[Sequence[Any]]]:
        """Column names and rows of any statement (a command without result gives no rows)."""
        with self._lock:
            result = self.client.query(sql, parameters=parameters)
            return list(result.column_names), list(result.result_rows)

    def close(self) -> None:
        with self._lock:
            self.client.close()


def open_server(url: str) -> Store:
    """A ClickHouse server by clickhouse-connect DSN, e.g. ``http://admin:pw@localhost:8123``."""
    import clickhouse_connect

    try:
        require_clickhouse(url, f"--clickhouse or {CLICKHOUSE_SETTING}")
        client = clickhouse_connect.get_client(dsn=url)
    except UnreachableError as error:
        raise StoreUnavailableError(str(error)) from None
    except Exception as error:
        raise StoreUnavailableError(
            f"ClickHouse at {redact(url)} refused the connection: {error}"
        ) from None
    return Store(client, "ClickHouse server")


def open_embedded(data_path: Path) -> Store:
    """The embedded store of ``make local`` (chDB on ``data_path``), when no process holds it."""
    import clickhouse_connect

    if not (data_path / "metadata").is_dir():
        raise StoreUnavailableError(
            f"no embedded store at {data_path}: run `make local` first, or pass --clickhouse URL"
        )
    holder = holder_of(data_path)
    if holder is not None:
        raise StoreUnavailableError(
            f"the embedded store {data_path} is in use by `make local` ({holder}); chDB allows "
            "one process per data path: use the dashboard of `make local` (press s for SQL), "
            "or stop it first"
        )
    # Reading needs no Kafka table (and chDB cannot start with one); `make local` recreates them.
    set_kafka_tables_aside(data_path)
    try:
        client = clickhouse_connect.get_client(dsn=f"chdb://{data_path.resolve()}")
    except Exception as error:
        raise StoreUnavailableError(
            f"cannot open the embedded store {data_path}: {error}"
        ) from None
    return Store(client, f"embedded store {data_path}")


@contextlib.contextmanager
def opened(url: str | None, data_path: Path) -> Iterator[Store]:
    store = open_server(url) if url else open_embedded(data_path)
    try:
        yield store
    finally:
        store.close()
