"""``coins-verify`` (``make verify``): prove a running stack hop by hop, with a fix per failure.

One row per check, grouped by hop (Kafka, ksqlDB, ClickHouse, Metabase), each with the figure it
saw; a failed check says how to fix it. Exit status 1 when any check failed (a warning does not
fail). Each hop is checked on its own, so a ksqlDB that never started fails the ksqlDB rows and
the ksqlDB-fed ones downstream, and the rest still proves itself.

Every endpoint defaults to the compose stack as seen from the host (``localhost`` ports of
compose.yaml) and is read from the same settings the services use: ``COINS_KAFKA_*`` (producers),
``KSQLDB_*`` (applier), ``METABASE_*`` (provisioner), ``COINS_CLICKHOUSE_URL``, and the
thresholds ``VERIFY_*`` here.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from producers.env_settings import STACK_CLICKHOUSE_URL, ClickHouseConnectionSettings, env_name
from producers.kafka.connection import KafkaConnection
from producers.kafka.topics import TopicSpec, topic_partitions, topic_variables
from producers.logs import console_script, hide_secrets, secret_values
from producers.reachability import (
    UnreachableError,
    require_clickhouse,
    require_kafka,
    require_url,
)
from producers.retry import Deadline
from producers.settings import Settings
from provisioning.ksqldb import KsqlApplierSettings
from provisioning.ksqldb_client import KsqlClient, KsqlError
from provisioning.ksqldb_statements import KsqlStatement, load_statements
from provisioning.metabase.client import MetabaseClient
from provisioning.metabase.definitions import DefinitionError, Definitions, load_definitions
from provisioning.metabase.errors import MetabaseError
from provisioning.metabase.provisioner import Provisioner
from provisioning.metabase.settings import MetabaseSettings
from provisioning.topics import all_topics

HOPS = ("kafka", "ksqldb", "clickhouse", "metabase")
FIX_KAFKA = (
    "start it (`make up`), or set COINS_KAFKA_BOOTSTRAP_SERVERS (localhost:9094 for the compose "
    "stack); `docker compose logs kafka`"
)
FIX_KSQLDB = (
    "`docker compose logs ksqldb-server`; short of memory is the usual cause (give Docker 6 GB "
    "or lower KSQLDB_HEAP_MAX), or set KSQLDB_URL. Only the two ksqlDB cards depend on it."
)
FIX_METABASE = "`docker compose logs metabase`; the first boot takes minutes; or set METABASE_URL"


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


class VerifySettings(ClickHouseConnectionSettings):
    """Thresholds (``VERIFY_*``) and the ClickHouse server (``COINS_CLICKHOUSE_URL``, default
    the stack's administrator on localhost:8123)."""

    model_config = SettingsConfigDict(env_prefix="VERIFY_")

    live_max_age_seconds: float = Field(default=120.0, gt=0, description="Newest live tick.")
    ksql_max_age_seconds: float = Field(default=180.0, gt=0, description="Newest ksqlDB window.")
    rollup_max_age_seconds: float = Field(default=180.0, gt=0, description="Newest rollup minute.")
    snapshot_max_age_seconds: float = Field(
        default=300.0, gt=0, description="Last refresh of each snapshot view."
    )
    exception_window_seconds: float = Field(
        default=600.0, gt=0, description="How far back Kafka table errors count."
    )
    timeout_seconds: float = Field(default=20.0, gt=0, description="Per network call.")


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
        deadline = Deadline.after(timeout_s)
        while pending and not deadline.expired:
            batches = await consumer.getmany(*pending, timeout_ms=1000)
            for partition, records in batches.items():
                for record in records:
                    stamp = record.timestamp / 1000
                    newest = stamp if newest is None else max(newest, stamp)
                pending.discard(partition)
        return kept, newest
    finally:
        await consumer.stop()


def _row(
    hop: str, name: str, problem: bool, figure: str, fix: str, bad: Status = Status.FAIL
) -> Check:
    """One row: ``bad`` with its fix when there is a problem, ok (and no fix) otherwise."""
    return Check(hop, name, bad if problem else Status.OK, figure, fix if problem else "")


def _seconds_since(newest: float | None) -> float | None:
    """Age of a message timestamp (seconds since the epoch); None stays None."""
    return None if newest is None else max(0.0, time.time() - newest)


def kafka_checks(
    connection: KafkaConnection,
    specs: Sequence[TopicSpec],
    settings: Settings,
    verify: VerifySettings,
) -> list[Check]:
    hop = "Kafka"
    try:
        partitions = asyncio.run(_topic_partitions(connection, verify.timeout_seconds))
    except Exception as error:  # any client failure means: not reachable from here
        return [
            Check(
                hop,
                "broker reachable",
                Status.FAIL,
                f"{connection.bootstrap_servers}: {type(error).__name__}",
                FIX_KAFKA,
            )
        ]
    checks: list[Check] = []
    wrong = [
        f"{s.name} ({partitions.get(s.name, 'missing')} partitions, expected {s.partitions})"
        for s in specs
        if partitions.get(s.name) != s.partitions
    ]
    checks.append(
        _row(
            hop,
            "topics and partitions",
            bool(wrong),
            "; ".join(wrong) if wrong else f"{len(specs)}/{len(specs)} topics as declared",
            "create them: `docker compose up topics` (coins-topics); a topic with other partitions "
            "must be deleted first (ksqlDB refuses it)",
        )
    )
    _, newest = asyncio.run(
        _topic_stats(connection, settings.topic_current, verify.timeout_seconds)
    )
    checks.append(
        _freshness(
            hop,
            f"live topic {settings.topic_current}",
            _seconds_since(newest),
            verify.live_max_age_seconds,
            "the producer publishes nothing: `docker compose logs producer` "
            "(API key, credits, Kafka)",
            empty="no message",
        )
    )
    dead, _ = asyncio.run(
        _topic_stats(connection, settings.topic_dead_letter, verify.timeout_seconds)
    )
    checks.append(
        _row(
            hop,
            f"dead letters {settings.topic_dead_letter}",
            bool(dead),
            f"{dead} messages",
            "malformed API answers were set aside with their raw content: read them with "
            f"kafka-console-consumer --topic {settings.topic_dead_letter}",
            bad=Status.WARN,
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
    fix_down = FIX_KSQLDB
    try:
        status_code, body = client.health()
    except httpx.HTTPError as error:
        return [Check(hop, "server healthy", Status.FAIL, type(error).__name__, fix_down)]
    # /healthcheck answers 200 even when isHealthy is false (engines.md): read the body.
    is_healthy = body.get("isHealthy") if isinstance(body, dict) else None
    healthy = status_code == 200 and is_healthy is True
    checks = [
        _row(
            hop,
            "server healthy",
            not healthy,
            f"HTTP {status_code}, isHealthy={is_healthy}",
            fix_down,
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
        _row(
            hop,
            "persistent queries RUNNING",
            bool(problems),
            "; ".join(problems) if problems else f"{len(expected)}/{len(expected)} RUNNING",
            "`docker compose logs ksqldb-init` names the failing statement; `make ksql-apply` "
            "re-applies (REPLACE=NAME after an edit)",
        )
    )
    for statement in statements:
        topic = statement.sink_topic
        if topic is None:
            continue
        checks.append(
            _freshness(
                hop,
                f"output topic {topic} advancing",
                _seconds_since(newest_message(topic)),
                verify.ksql_max_age_seconds,
                "the query writes nothing: are live ticks arriving (Kafka row "
                "above)? `SHOW QUERIES;` / `EXPLAIN <id>;` on ksqlDB",
                empty="no message",
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


def _freshness(
    hop: str, name: str, age: Any, max_age: float, fix: str, *, empty: str = "no rows"
) -> Check:
    """Fails when the newest item is older than ``max_age`` seconds, or there is none."""
    if age is None:
        return Check(hop, name, Status.FAIL, empty, fix)
    return _row(hop, name, float(age) > max_age, f"newest {float(age):.0f} s ago", fix)


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
        f"{int(verify.exception_window_seconds)}), groupArrayArray(exceptions.text), "
        "groupArrayArray(exceptions.time)), ' | ') AS recent_errors "
        "FROM system.kafka_consumers WHERE database = 'crypto' GROUP BY table"
    ).result_rows
    by_table = {row[0]: (int(row[1]), str(row[2])) for row in consumers}
    idle = [t for t in tables if by_table.get(t, (0, ""))[0] == 0]
    failing = [f"{t}: {by_table[t][1][:200]}" for t in tables if by_table.get(t, (0, ""))[1]]
    problems = [f"{t}: no active consumer" for t in idle] + failing
    checks.append(
        _row(
            hop,
            "Kafka tables consuming",
            bool(problems) or not tables,
            "; ".join(problems)
            if problems
            else f"{len(tables)}/{len(tables)} consuming, no recent exception",
            "SELECT * FROM system.kafka_consumers FORMAT Vertical; a missing topic is created by "
            "`docker compose up topics`, then `docker compose restart clickhouse`",
        )
    )
    checks.append(
        _freshness(
            hop,
            "newest tick (coins_ticks)",
            _newest_age_seconds(client, "coins_ticks", "ts"),
            verify.live_max_age_seconds,
            "no recent tick stored: see the Kafka live topic row, then `SELECT * FROM "
            "crypto.ingestion_errors_by_topic`",
        )
    )
    checks.append(
        _freshness(
            hop,
            "minute rollup (rollup_ohlc_minute)",
            _newest_age_seconds(client, "rollup_ohlc_minute", "minute"),
            verify.rollup_max_age_seconds,
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
                verify.ksql_max_age_seconds,
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
        _row(
            hop,
            "ingest_errors last hour",
            bool(errors),
            f"{errors} rejected messages",
            "SELECT * FROM crypto.ingestion_errors_by_topic (raw content in crypto.ingest_errors)",
            bad=Status.WARN,
        )
    )
    refreshes = client.query(
        "SELECT view, status, dateDiff('second', last_success_time, now()) AS age, exception "
        "FROM system.view_refreshes WHERE database = 'crypto' ORDER BY view"
    ).result_rows
    stale = [
        f"{view}: {status}{' ' + str(exception)[:120] if exception else ''}"
        for view, status, age, exception in refreshes
        if age is None or float(age) > verify.snapshot_max_age_seconds or exception
    ]
    checks.append(
        _row(
            hop,
            "snapshots refreshed",
            bool(stale) or not refreshes,
            "; ".join(stale)
            if stale
            else f"{len(refreshes)}/{len(refreshes)} within "
            f"{verify.snapshot_max_age_seconds:.0f} s",
            "SELECT * FROM system.view_refreshes WHERE database = 'crypto' FORMAT Vertical",
        )
    )
    return checks


def open_clickhouse(verify: VerifySettings) -> Any:
    import clickhouse_connect

    require_clickhouse(verify.clickhouse_dsn(STACK_CLICKHOUSE_URL) or STACK_CLICKHOUSE_URL)
    return clickhouse_connect.get_client(
        dsn=verify.clickhouse_dsn(STACK_CLICKHOUSE_URL), connect_timeout=verify.timeout_seconds
    )


# ---- Metabase ------------------------------------------------------------------------------
def metabase_checks(
    client: MetabaseClient, settings: MetabaseSettings, definitions: Definitions
) -> list[Check]:
    hop = "Metabase"
    status = client.probe("/api/health")
    checks = [
        _row(
            hop,
            "healthy",
            status != 200,
            f"GET /api/health -> {status}",
            FIX_METABASE,
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
            _row(
                hop,
                f"connection {settings.database_name!r} synced",
                sync != "complete",
                "missing" if database is None else f"initial_sync_status={sync}",
                "`docker compose logs metabase-provision`; rerun it with `make metabase-provision`",
            )
        )
        cards, dashboards = _managed_items(client, definitions)
        missing = [d.name for d in definitions.dashboards if d.name not in dashboards]
        checks.append(
            _row(
                hop,
                "dashboards exist",
                bool(missing),
                f"missing: {', '.join(missing)}"
                if missing
                else f"{len(dashboards)}/{len(definitions.dashboards)}",
                "`make metabase-provision`",
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
    return _row(
        "Metabase",
        "every card runs and returns rows",
        bool(failures),
        "; ".join(failures) if failures else f"{total}/{total} cards",
        "a card without rows reads a stage that is empty (see the rows above: ksqlDB cards need "
        "ksqlDB); a failing one shows ClickHouse's error: open it in Metabase",
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


def _unreachable(require: Callable[[], None]) -> str | None:
    try:
        require()
    except UnreachableError as error:
        return str(error)
    return None


def run_hops(
    hops: Sequence[str],
    *,
    verify: VerifySettings,
    producer_settings: Settings,
    ksql_settings: KsqlApplierSettings | None = None,
    clickhouse_client: Callable[[], Any] | None = None,
    ksql_http: httpx.Client | None = None,
    metabase_transport: httpx.BaseTransport | None = None,
) -> list[Check]:
    connection = KafkaConnection.from_settings(producer_settings)
    ksql_settings = ksql_settings or KsqlApplierSettings()
    statements = load_statements(ksql_settings.statements_dir, topic_variables(producer_settings))
    checks: list[Check] = []
    if "kafka" in hops:
        specs = all_topics(ksql_settings.statements_dir, producer_settings)
        unreachable = _unreachable(lambda: require_kafka(producer_settings, verify.timeout_seconds))
        if unreachable is not None:
            checks.append(Check("Kafka", "broker reachable", Status.FAIL, unreachable, FIX_KAFKA))
        else:
            checks += kafka_checks(connection, specs, producer_settings, verify)
    if "ksqldb" in hops:
        hide_secrets(ksql_settings)
        unreachable = None
        if ksql_http is None:  # the real network: one line naming the setting when down
            unreachable = _unreachable(
                lambda: require_url(
                    ksql_settings.url, "ksqlDB", env_name(KsqlApplierSettings, "url")
                )
            )
        if unreachable is not None:
            checks.append(Check("ksqlDB", "server healthy", Status.FAIL, unreachable, FIX_KSQLDB))
        else:
            http = ksql_http or httpx.Client(
                base_url=ksql_settings.url, timeout=verify.timeout_seconds
            )
            with http:
                checks += ksqldb_checks(
                    KsqlClient(http),
                    statements,
                    newest_message_reader(connection, verify.timeout_seconds),
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
                    str(error)
                    if isinstance(error, UnreachableError)
                    else f"{type(error).__name__}: {str(error)[:200]}",
                    "`docker compose logs clickhouse`; COINS_CLICKHOUSE_URL",
                )
            )
    if "metabase" in hops:
        metabase_settings = MetabaseSettings()
        hide_secrets(metabase_settings)
        definitions = load_definitions(metabase_settings.definitions_dir)
        if metabase_transport is None:  # the real network: one line naming the setting
            unreachable = _unreachable(
                lambda: require_url(
                    metabase_settings.url, "Metabase", env_name(MetabaseSettings, "url")
                )
            )
            if unreachable is not None:
                checks.append(Check("Metabase", "healthy", Status.FAIL, unreachable, FIX_METABASE))
                return checks
        client = MetabaseClient(
            metabase_settings.url,
            timeout_seconds=verify.timeout_seconds * 6,
            attempts=2,
            retry_wait_seconds=0.5,
            secrets=secret_values(metabase_settings),
            transport=metabase_transport,
        )
        with client:
            checks += metabase_checks(client, metabase_settings, definitions)
    return checks


@console_script
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
    verify, producer_settings = VerifySettings(), Settings()
    hide_secrets(verify, producer_settings)
    try:
        checks = run_hops(hops, verify=verify, producer_settings=producer_settings)
    except (OSError, DefinitionError) as error:  # the statements or dashboards are not here
        print(
            f"coins-verify: {error}: run it from the repository, or set "
            f"{env_name(KsqlApplierSettings, 'statements_dir')} and "
            f"{env_name(MetabaseSettings, 'definitions_dir')}",
            file=sys.stderr,
        )
        return 2
    print(render(checks))
    if failed(checks):
        print("\nverify: FAILED (see How to fix)")
        return 1
    print("\nverify: every hop OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
