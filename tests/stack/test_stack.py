"""Docker only: the whole stack from one `docker compose up`, with the demo producer.

Within two minutes of the stack reporting healthy, ClickHouse must hold live ticks, ksqlDB's
1-minute OHLC that agrees with ClickHouse's own minute rollup of the same ticks, and ksqlDB's
60 s moving-average rows. `down` leaving nothing behind is checked by the fixture's teardown
(tests/stack/conftest.py), after every stack test has run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest

from tests.stack.conftest import ComposeStack
from tests.support.waiting import eventually

DEADLINE_SECONDS = 120.0
POLL_SECONDS = 2.0
# A ksqlDB window is compared once ClickHouse holds ticks this much newer than its end: ksqlDB
# emits an update per commit interval and ClickHouse flushes its Kafka tables every 0.5 s.
SETTLED_MS = 15_000

Result = TypeVar("Result")


def within_deadline(
    description: str, attempt: Callable[[], Result | None], deadline: float
) -> Result:
    """Poll ``attempt`` until it returns a value (not None; an AssertionError is retried) or
    the stack's deadline passes."""
    found = eventually(
        attempt,
        until=lambda result: result is not None,
        within=max(0.0, deadline - time.monotonic()),
        what=f"{description} within {DEADLINE_SECONDS:.0f} s of `up`",
        interval=POLL_SECONDS,
        retrying=(AssertionError,),
    )
    assert found is not None
    return found


@pytest.fixture(scope="module")
def deadline(compose_stack: ComposeStack) -> float:
    """Two minutes from the moment `docker compose up --wait` returned, for every check."""
    return time.monotonic() + DEADLINE_SECONDS


@pytest.fixture(scope="module")
def clickhouse(compose_stack: ComposeStack, deadline: float) -> Any:
    return compose_stack.clickhouse()


def _scalar(client: Any, query: str) -> Any:
    return client.query(query).result_rows[0][0]


def test_every_service_is_running_or_done(compose_stack: ComposeStack) -> None:
    containers = {c.Service: c for c in compose_stack.compose.get_containers(include_all=True)}
    for service in ("kafka", "ksqldb-server", "ksqldb-init", "clickhouse", "producer", "backfill"):
        assert containers[service].State == "running", service
        assert containers[service].Health in ("", "healthy"), service
    assert containers["topics"].ExitCode == 0


def test_ksqldb_runs_both_queries(compose_stack: ComposeStack) -> None:
    response = httpx.post(
        f"{compose_stack.url('KSQLDB_HOST_PORT')}/ksql",
        json={"ksql": "SHOW QUERIES;", "streamsProperties": {}},
        headers={"Accept": "application/vnd.ksql.v1+json"},
        timeout=30,
    )
    response.raise_for_status()
    queries = response.json()[0]["queries"]
    sinks = {sink for query in queries for sink in query["sinks"]}
    assert {"OHLC_BY_MINUTE", "MOVING_AVERAGE_60S"} <= sinks
    assert all(query["state"] == "RUNNING" for query in queries)


def test_clickhouse_holds_live_ticks(clickhouse: Any, deadline: float) -> None:
    count = within_deadline(
        "live ticks in crypto.coins_ticks",
        lambda: _scalar(clickhouse, "SELECT count() FROM crypto.coins_ticks") or None,
        deadline,
    )
    sources = {
        row[0]
        for row in clickhouse.query("SELECT DISTINCT source FROM crypto.coins_ticks").result_rows
    }
    assert count > 0
    assert sources == {"demo"}


def test_ksqldb_minute_ohlc_agrees_with_the_clickhouse_rollup(
    clickhouse: Any, deadline: float
) -> None:
    query = f"""
        SELECT
            k.code, toUnixTimestamp64Milli(k.window_start) AS start_ms,
            k.open, k.high, k.low, k.close, k.tick_count,
            r.open, r.high, r.low, r.close, r.tick_count
        FROM crypto.ksql_ohlc_minute_final AS k
        INNER JOIN crypto.ohlc_minute_live AS r
            ON r.code = k.code AND toUnixTimestamp(r.minute) = toUnixTimestamp(k.window_start)
        WHERE toUnixTimestamp64Milli(k.window_end) + {SETTLED_MS}
            <= (SELECT toUnixTimestamp64Milli(max(ts)) FROM crypto.coins_ticks)
        ORDER BY k.code, start_ms
    """

    def settled_windows_agree() -> list[tuple[Any, ...]] | None:
        rows = [tuple(row) for row in clickhouse.query(query).result_rows]
        if not rows:
            return None
        for row in rows:
            code, start_ms, *values = row
            ksql, rollup = values[:5], values[5:]
            assert ksql[4] == rollup[4], f"{code} {start_ms}: tick counts {ksql[4]} != {rollup[4]}"
            assert ksql[:4] == pytest.approx(rollup[:4], rel=1e-12), f"{code} {start_ms}"
        return rows

    rows = within_deadline(
        "settled ksqlDB minutes equal to the ClickHouse rollup", settled_windows_agree, deadline
    )
    assert {row[0] for row in rows} <= {"BTC", "ETH", "SOL"}


def test_moving_average_rows_arrive(clickhouse: Any, deadline: float) -> None:
    count = within_deadline(
        "60 s moving-average rows",
        lambda: (
            _scalar(clickhouse, "SELECT count() FROM crypto.ksql_moving_average_60s_final") or None
        ),
        deadline,
    )
    assert count > 0
    averages_within_range = _scalar(
        clickhouse,
        "SELECT countIf(m.moving_average BETWEEN r.low AND r.high) = count() "
        "FROM crypto.ksql_moving_average_60s_final AS m "
        "INNER JOIN (SELECT code, min(rate) AS low, max(rate) AS high FROM crypto.coins_ticks "
        "GROUP BY code) AS r ON r.code = m.code",
    )
    assert averages_within_range == 1
