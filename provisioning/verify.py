"""``coins-verify`` (``make verify``): prove a running stack hop by hop, with a fix per failure.

One row per check, grouped by hop (Kafka, ksqlDB, ClickHouse, Metabase), each with the figure it
saw; a failed check says how to fix it. Exit status 1 when any check failed (a warning does not
fail). Each hop is checked on its own, so a ksqlDB that never started fails the ksqlDB rows and
the ksqlDB-fed ones downstream, and the rest still proves itself.

Every endpoint defaults to the compose stack as seen from the host (``localhost`` ports of
compose.yaml) and is read from the same settings the services use: ``COINS_KAFKA_*`` (producers),
``KSQLDB_URL`` (applier), ``METABASE_*`` (provisioner), and ``VERIFY_CLICKHOUSE_*`` here.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from producers.kafka.connection import KafkaConnection
from producers.kafka.topics import TopicSpec, topic_partitions
from producers.settings import Settings
from provisioning.ksqldb import KsqlApplierSettings
from provisioning.ksqldb_client import KsqlClient, KsqlError
from provisioning.ksqldb_statements import KsqlStatement, load_statements
from provisioning.metabase.client import MetabaseClient
from provisioning.metabase.definitions import Definitions, load_definitions
from provisioning.metabase.errors import MetabaseError
from provisioning.metabase.provisioner import Provisioner
from provisioning.metabase.settings import MetabaseSettings
from provisioning.topics import all_topics

HOPS = ("kafka", "ksqldb", "clickhouse", "metabase")


class Status(Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    hop: str
    name: str
    status: Status
    figure: str
    fix: str = ""


class VerifySettings(BaseSettings):
    """Thresholds and the ClickHouse endpoint (``VERIFY_*``; the password also from
    ``CLICKHOUSE_ADMIN_PASSWORD``, the variable compose gives ClickHouse)."""

    model_config = SettingsConfigDict(
        env_prefix="VERIFY_", env_file=".env", extra="ignore", populate_by_name=True
    )

    clickhouse_host: str = "localhost"
    clickhouse_port: int = Field(
        default=8123,
        validation_alias=AliasChoices("VERIFY_CLICKHOUSE_PORT", "CLICKHOUSE_HTTP_HOST_PORT"),
    )
    clickhouse_user: str = "admin"
    clickhouse_password: SecretStr = Field(
        default=SecretStr("admin-local-only"),
        validation_alias=AliasChoices("VERIFY_CLICKHOUSE_PASSWORD", "CLICKHOUSE_ADMIN_PASSWORD"),
    )
    ksqldb_dir: Path = Path("ksqldb")
    live_max_age_s: float = Field(default=120.0, gt=0, description="newest live tick")
    ksql_max_age_s: float = Field(default=180.0, gt=0, description="newest ksqlDB window")
    rollup_max_age_s: float = Field(default=180.0, gt=0, description="newest rollup minute")
    snapshot_max_age_s: float = Field(default=300.0, gt=0, description="last snapshot refresh")
    exception_window_s: float = Field(default=600.0, gt=0, description="Kafka table errors")
    timeout_s: float = Field(default=20.0, gt=0, description="per network call")


# ---- Kafka ---------------------------------------------------------------------------------
async def _topic_partitions(connection: KafkaConnection, timeout_s: float) -> dict[str, int]:
    admin = AIOKafkaAdminClient(
        **connection.client_options(), request_timeout_ms=int(timeout_s * 1000)
    )
    await asyncio.wait_for(admin.start(), timeout_s)
    try:
        names = await admin.list_topics()
        descriptions = await admin.describe_topics(list(names))
    finally:
        await admin.close()
    return {
        d["topic"]: len(d.get("partitions", [])) for d in descriptions if not d.get("error_code")
    }


async def _topic_stats(
    connection: KafkaConnection, topic: str, timeout_s: float
) -> tuple[int, float | None]:
    """(messages currently kept, timestamp in seconds of the newest message or None)."""
    consumer = AIOKafkaConsumer(
        **connection.client_options(),
        enable_auto_commit=False,
        request_timeout_ms=int(timeout_s * 1000),
    )
    await asyncio.wait_for(consumer.start(), timeout_s)
    try:
        partitions = [TopicPartition(topic, p) for p in await topic_partitions(connection, topic)]
        if not partitions:
            return 0, None
        consumer.assign(partitions)
        beginnings = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        kept = sum(ends[p] - beginnings[p] for p in partitions)
        newest: float | None = None
        for partition in partitions:
            if ends[partition] > beginnings[partition]:
                consumer.seek(partition, ends[partition] - 1)
        pending = {p for p in partitions if ends[p] > beginnings[p]}
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            batches = await consumer.getmany(*pending, timeout_ms=1000)
            for partition, records in batches.items():
                for record in records:
                    stamp = record.timestamp / 1000
                    newest = stamp if newest is None else max(newest, stamp)
                pending.discard(partition)
        return kept, newest
    finally:
        await consumer.stop()


def _age(newest: float | None) -> str:
    return "no message" if newest is None else f"newest {max(0.0, time.time() - newest):.0f} s ago"


def kafka_checks(
    connection: KafkaConnection,
    specs: Sequence[TopicSpec],
    settings: Settings,
    verify: VerifySettings,
) -> list[Check]:
    hop = "Kafka"
    try:
        partitions = asyncio.run(_topic_partitions(connection, verify.timeout_s))
    except Exception as error:  # any client failure means: not reachable from here
        return [
            Check(
                hop,
                "broker reachable",
                Status.FAIL,
                f"{connection.bootstrap_servers}: {type(error).__name__}",
                "start it (`make up`), or set COINS_KAFKA_BOOTSTRAP_SERVERS (localhost:9094 for "
                "the compose stack); `docker compose logs kafka`",
            )
        ]
    checks: list[Check] = []
    wrong = [
        f"{s.name} ({partitions.get(s.name, 'missing')} partitions, expected {s.partitions})"
        for s in specs
        if partitions.get(s.name) != s.partitions
    ]
    checks.append(
        Check(
            hop,
            "topics and partitions",
            Status.FAIL if wrong else Status.OK,
            "; ".join(wrong) if wrong else f"{len(specs)}/{len(specs)} topics as declared",
            "create them: `docker compose up topics` (coins-topics); a topic with other partitions "
            "must be deleted first (ksqlDB refuses it)"
            if wrong
            else "",
        )
    )
    _, newest = asyncio.run(_topic_stats(connection, settings.topic_current, verify.timeout_s))
    fresh = newest is not None and time.time() - newest <= verify.live_max_age_s
    checks.append(
        Check(
            hop,
            f"live topic {settings.topic_current}",
            Status.OK if fresh else Status.FAIL,
            _age(newest),
            ""
            if fresh
            else "the producer publishes nothing: `docker compose logs producer` "
            "(API key, credits, Kafka)",
        )
    )
    dead, _ = asyncio.run(_topic_stats(connection, settings.topic_dead_letter, verify.timeout_s))
    checks.append(
        Check(
            hop,
            f"dead letters {settings.topic_dead_letter}",
            Status.WARN if dead else Status.OK,
            f"{dead} messages",
            "malformed API answers were set aside with their raw content: read them with "
            f"kafka-console-consumer --topic {settings.topic_dead_letter}"
            if dead
            else "",
        )
    )
    return checks


# ---- ksqlDB --------------------------------------------------------------------------------
def newest_message_reader(
    connection: KafkaConnection, timeout_s: float
) -> Callable[[str], float | None]:
    """Timestamp (seconds) of the newest message of a topic, read from the broker."""
    return lambda topic: asyncio.run(_topic_stats(connection, topic, timeout_s))[1]


def ksqldb_checks(
    client: KsqlClient,
    statements: Sequence[KsqlStatement],
    newest_message: Callable[[str], float | None],
    verify: VerifySettings,
) -> list[Check]:
    hop = "ksqlDB"
    fix_down = (
        "`docker compose logs ksqldb-server`; short of memory is the usual cause (give Docker "
        "6 GB or lower KSQLDB_HEAP_MAX). Only the two ksqlDB cards depend on it."
    )
    try:
        status_code, body = client.health()
    except httpx.HTTPError as error:
        return [Check(hop, "server healthy", Status.FAIL, type(error).__name__, fix_down)]
    # /healthcheck answers 200 even when isHealthy is false (engines.md): read the body.
    is_healthy = body.get("isHealthy") if isinstance(body, dict) else None
    healthy = status_code == 200 and is_healthy is True
    checks = [
        Check(
            hop,
            "server healthy",
            Status.OK if healthy else Status.FAIL,
            f"HTTP {status_code}, isHealthy={is_healthy}",
            "" if healthy else fix_down,
        )
    ]
    if not healthy:
        return checks
    expected = [s.created_object[1] for s in statements if s.runs_a_query and s.created_object]
    try:
        queries = client.show_queries()
    except KsqlError as error:
        return [*checks, Check(hop, "persistent queries", Status.FAIL, str(error)[:200], fix_down)]
    problems = []
    for name in expected:
        states = [q.state for q in queries if name in q.sinks]
        if states != ["RUNNING"]:
            problems.append(f"{name}: {', '.join(states) or 'no query'}")
    checks.append(
        Check(
            hop,
            "persistent queries RUNNING",
            Status.FAIL if problems else Status.OK,
            "; ".join(problems) if problems else f"{len(expected)}/{len(expected)} RUNNING",
            "`docker compose logs ksqldb-init` names the failing statement; `make ksql-apply` "
            "re-applies (REPLACE=NAME after an edit)"
            if problems
            else "",
        )
    )
    for statement in statements:
        topic = statement.sink_topic
        if topic is None:
            continue
        newest = newest_message(topic)
        fresh = newest is not None and time.time() - newest <= verify.ksql_max_age_s
        checks.append(
            Check(
                hop,
                f"output topic {topic} advancing",
                Status.OK if fresh else Status.FAIL,
                _age(newest),
                ""
                if fresh
                else "the query writes nothing: are live ticks arriving (Kafka row "
                "above)? `SHOW QUERIES;` / `EXPLAIN <id>;` on ksqlDB",
            )
        )
    return checks


# ---- ClickHouse ----------------------------------------------------------------------------
def _scalar(client: Any, sql: str) -> Any:
    rows = client.query(sql).result_rows
    return rows[0][0] if rows else None


def _newest_age_seconds(client: Any, table: str, column: str) -> Any:
    """Seconds since the newest ``column`` of ``crypto.table``; None when it is empty."""
    return _scalar(
        client,
        f"SELECT dateDiff('second', max({column}), now64(3, 'UTC')) "
        f"FROM crypto.{table} HAVING count() > 0",
    )


def _freshness(hop: str, name: str, age: Any, max_age: float, fix: str) -> Check:
    if age is None:
        return Check(hop, name, Status.FAIL, "no rows", fix)
    ok = float(age) <= max_age
    return Check(
        hop,
        name,
        Status.OK if ok else Status.FAIL,
        f"newest {float(age):.0f} s ago",
        "" if ok else fix,
    )


def clickhouse_checks(client: Any, verify: VerifySettings) -> list[Check]:
    hop = "ClickHouse"
    checks: list[Check] = []
    tables = [
        row[0]
        for row in client.query(
            "SELECT name FROM system.tables WHERE database = 'crypto' AND engine = 'Kafka' "
            "ORDER BY name"
        ).result_rows
    ]
    consumers = client.query(
        "SELECT table, countIf(length(assignments.topic) > 0) AS assigned, "
        "arrayStringConcat(arrayFilter((text, at) -> at >= now() - toIntervalSecond("
        f"{int(verify.exception_window_s)}), groupArrayArray(exceptions.text), "
        "groupArrayArray(exceptions.time)), ' | ') AS recent_errors "
        "FROM system.kafka_consumers WHERE database = 'crypto' GROUP BY table"
    ).result_rows
    by_table = {row[0]: (int(row[1]), str(row[2])) for row in consumers}
    idle = [t for t in tables if by_table.get(t, (0, ""))[0] == 0]
    failing = [f"{t}: {by_table[t][1][:200]}" for t in tables if by_table.get(t, (0, ""))[1]]
    problems = [f"{t}: no active consumer" for t in idle] + failing
    checks.append(
        Check(
            hop,
            "Kafka tables consuming",
            Status.FAIL if problems or not tables else Status.OK,
            "; ".join(problems)
            if problems
            else f"{len(tables)}/{len(tables)} consuming, no recent exception",
            "SELECT * FROM system.kafka_consumers FORMAT Vertical; a missing topic is created by "
            "`docker compose up topics`, then `docker compose restart clickhouse`"
            if problems or not tables
            else "",
        )
    )
    checks.append(
        _freshness(
            hop,
            "newest tick (coins_ticks)",
            _newest_age_seconds(client, "coins_ticks", "ts"),
            verify.live_max_age_s,
            "no recent tick stored: see the Kafka live topic row, then `SELECT * FROM "
            "crypto.ingestion_errors_by_topic`",
        )
    )
    checks.append(
        _freshness(
            hop,
            "minute rollup (rollup_ohlc_minute)",
            _newest_age_seconds(client, "rollup_ohlc_minute", "minute"),
            verify.rollup_max_age_s,
            "the rollup views stopped: `SELECT name FROM system.tables WHERE database = 'crypto' "
            "AND name LIKE 'mv_rollup%'`",
        )
    )
    for table in ("ksql_ohlc_minute", "ksql_moving_average_60s"):
        checks.append(
            _freshness(
                hop,
                f"ksqlDB table {table}",
                _newest_age_seconds(client, table, "window_start"),
                verify.ksql_max_age_s,
                "fed by ksqlDB only: see the ksqlDB rows (the other cards do not need it)",
            )
        )
    errors = int(
        _scalar(
            client,
            "SELECT count() FROM crypto.ingest_errors "
            "WHERE received_at >= now64(3, 'UTC') - INTERVAL 1 HOUR",
        )
        or 0
    )
    checks.append(
        Check(
            hop,
            "ingest_errors last hour",
            Status.WARN if errors else Status.OK,
            f"{errors} rejected messages",
            "SELECT * FROM crypto.ingestion_errors_by_topic (raw content in crypto.ingest_errors)"
            if errors
            else "",
        )
    )
    refreshes = client.query(
        "SELECT view, status, dateDiff('second', last_success_time, now()) AS age, exception "
        "FROM system.view_refreshes WHERE database = 'crypto' ORDER BY view"
    ).result_rows
    stale = [
        f"{view}: {status}{' ' + str(exception)[:120] if exception else ''}"
        for view, status, age, exception in refreshes
        if age is None or float(age) > verify.snapshot_max_age_s or exception
    ]
    checks.append(
        Check(
            hop,
            "snapshots refreshed",
            Status.FAIL if stale or not refreshes else Status.OK,
            "; ".join(stale)
            if stale
            else f"{len(refreshes)}/{len(refreshes)} within {verify.snapshot_max_age_s:.0f} s",
            "SELECT * FROM system.view_refreshes WHERE database = 'crypto' FORMAT Vertical"
            if stale or not refreshes
            else "",
        )
    )
    return checks


def open_clickhouse(verify: VerifySettings) -> Any:
    import clickhouse_connect

    return clickhouse_connect.get_client(
        host=verify.clickhouse_host,
        port=verify.clickhouse_port,
        username=verify.clickhouse_user,
        password=verify.clickhouse_password.get_secret_value(),
        connect_timeout=verify.timeout_s,
    )


# ---- Metabase ------------------------------------------------------------------------------
def metabase_checks(
    client: MetabaseClient, settings: MetabaseSettings, definitions: Definitions
) -> list[Check]:
    hop = "Metabase"
    status = client.probe("/api/health")
    checks = [
        Check(
            hop,
            "healthy",
            Status.OK if status == 200 else Status.FAIL,
            f"GET /api/health -> {status}",
            "" if status == 200 else "`docker compose logs metabase`; the first boot takes minutes",
        )
    ]
    if status != 200:
        return checks
    try:
        Provisioner(client, settings, definitions).log_in()
        database = next(
            (
                d
                for d in client.get_list("/api/database")
                if d.get("name") == settings.database_name
            ),
            None,
        )
        sync = None if database is None else database.get("initial_sync_status")
        checks.append(
            Check(
                hop,
                f"connection {settings.database_name!r} synced",
                Status.OK if sync == "complete" else Status.FAIL,
                "missing" if database is None else f"initial_sync_status={sync}",
                ""
                if sync == "complete"
                else "`docker compose logs metabase-provision`; rerun it "
                "with `make metabase-provision`",
            )
        )
        cards, dashboards = _managed_items(client, definitions)
        missing = [d.name for d in definitions.dashboards if d.name not in dashboards]
        checks.append(
            Check(
                hop,
                "dashboards exist",
                Status.FAIL if missing else Status.OK,
                f"missing: {', '.join(missing)}"
                if missing
                else f"{len(dashboards)}/{len(definitions.dashboards)}",
                "`make metabase-provision`" if missing else "",
            )
        )
        checks.append(_card_check(client, definitions, cards))
    except MetabaseError as error:
        checks.append(
            Check(hop, "API", Status.FAIL, str(error)[:300], "`docker compose logs metabase`")
        )
    return checks


def _managed_items(
    client: MetabaseClient, definitions: Definitions
) -> tuple[dict[str, int], dict[str, int]]:
    names = {c.name for c in definitions.collections}
    cards: dict[str, int] = {}
    dashboards: dict[str, int] = {}
    for collection in client.get_list("/api/collection"):
        if collection.get("name") not in names or not isinstance(collection.get("id"), int):
            continue
        for item in client.get_list(
            f"/api/collection/{collection['id']}/items", {"models": ["card", "dashboard"]}
        ):
            target = cards if item.get("model") == "card" else dashboards
            if isinstance(item.get("name"), str) and isinstance(item.get("id"), int):
                target.setdefault(item["name"], item["id"])
    return cards, dashboards


def _card_check(client: MetabaseClient, definitions: Definitions, cards: dict[str, int]) -> Check:
    failures: list[str] = []
    for question in definitions.questions:
        card_id = cards.get(question.name)
        if card_id is None:
            failures.append(f"{question.name}: missing")
            continue
        result = client.post(f"/api/card/{card_id}/query")
        if not isinstance(result, dict) or result.get("status") != "completed":
            error = result.get("error") if isinstance(result, dict) else result
            failures.append(f"{question.name}: {str(error)[:160]}")
        elif not (result.get("data") or {}).get("rows"):
            failures.append(f"{question.name}: no rows")
    total = len(definitions.questions)
    return Check(
        "Metabase",
        "every card runs and returns rows",
        Status.FAIL if failures else Status.OK,
        "; ".join(failures) if failures else f"{total}/{total} cards",
        "a card without rows reads a stage that is empty (see the rows above: ksqlDB cards need "
        "ksqlDB); a failing one shows ClickHouse's error: open it in Metabase"
        if failures
        else "",
    )


# ---- the report ----------------------------------------------------------------------------
def render(checks: Iterable[Check]) -> str:
    rows = [("hop", "check", "status", "figure")]
    fixes: list[str] = []
    for check in checks:
        rows.append((check.hop, check.name, check.status.value, check.figure))
        if check.fix:
            fixes.append(f"  {check.hop} / {check.name}: {check.fix}")
    widths = [min(max(len(r[i]) for r in rows), 60) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 20)
    if fixes:
        lines += ["", "How to fix:", *fixes]
    return "\n".join(lines)


def failed(checks: Iterable[Check]) -> bool:
    return any(check.status is Status.FAIL for check in checks)


def run_hops(
    hops: Sequence[str],
    *,
    verify: VerifySettings,
    producer_settings: Settings,
    clickhouse_client: Callable[[], Any] | None = None,
    ksql_http: httpx.Client | None = None,
    metabase_transport: httpx.BaseTransport | None = None,
) -> list[Check]:
    connection = KafkaConnection.from_settings(producer_settings)
    statements = load_statements(verify.ksqldb_dir)
    checks: list[Check] = []
    if "kafka" in hops:
        specs = all_topics(verify.ksqldb_dir, producer_settings)
        checks += kafka_checks(connection, specs, producer_settings, verify)
    if "ksqldb" in hops:
        ksql_settings = KsqlApplierSettings()
        http = ksql_http or httpx.Client(base_url=ksql_settings.url, timeout=verify.timeout_s)
        with http:
            checks += ksqldb_checks(
                KsqlClient(http),
                statements,
                newest_message_reader(connection, verify.timeout_s),
                verify,
            )
    if "clickhouse" in hops:
        try:
            client = (clickhouse_client or (lambda: open_clickhouse(verify)))()
            checks += clickhouse_checks(client, verify)
        except Exception as error:  # connection or query failure: the hop fails, others run
            checks.append(
                Check(
                    "ClickHouse",
                    "reachable",
                    Status.FAIL,
                    f"{type(error).__name__}: {str(error)[:200]}",
                    "`docker compose logs clickhouse`; VERIFY_CLICKHOUSE_HOST/PORT/USER/PASSWORD",
                )
            )
    if "metabase" in hops:
        metabase_settings = MetabaseSettings()
        definitions = load_definitions(metabase_settings.definitions_dir)
        client = MetabaseClient(
            metabase_settings.url,
            timeout_seconds=verify.timeout_s * 6,
            attempts=2,
            retry_wait_seconds=0.5,
            secrets=[metabase_settings.admin_password.get_secret_value()],
            transport=metabase_transport,
        )
        with client:
            checks += metabase_checks(client, metabase_settings, definitions)
    return checks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="coins-verify", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only",
        default=",".join(HOPS),
        help=f"comma-separated hops to check (default: {','.join(HOPS)})",
    )
    args = parser.parse_args(argv)
    hops = [h.strip().lower() for h in args.only.split(",") if h.strip()]
    unknown = set(hops) - set(HOPS)
    if unknown:
        parser.error(f"unknown hop(s): {', '.join(sorted(unknown))}")
    checks = run_hops(hops, verify=VerifySettings(), producer_settings=Settings())
    print(render(checks))
    if failed(checks):
        print("\nverify: FAILED (see How to fix)")
        return 1
    print("\nverify: every hop OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
