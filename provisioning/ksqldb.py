"""Apply the statements of ``ksqldb/`` to a ksqlDB server: ordered, idempotent, loud on errors.

Run as ``coins-ksql-apply`` (the ``ksqldb-init`` compose job). It waits for ``/healthcheck``
(``isHealthy`` true, not just HTTP 200), waits for the source topics the statements read, then
sends each statement on its own in file order with ``auto.offset.reset = earliest`` (so the
windows include ticks published before the queries existed) and the topic-name settings as
session variables (``${COINS_TOPIC_CURRENT}`` in a file is ksqlDB's to substitute,
``provisioning.ksqldb_statements.substitute``).

- A statement counts as "already applied" only on ksqlDB's exact answer to ``CREATE ... IF NOT
  EXISTS`` on an existing object (:meth:`StatementResult.is_if_not_exists_answer`); every other
  refusal stops the run with ksqlDB's own message, even one containing "already exists".
- Every object created is recorded with the checksum of its statement in the ksqlDB stream
  ``COINS_KSQLDB_APPLIED`` (the way ksqlDB's own migrations tool, ``ksqldb-tools`` ``migrations``,
  keeps its checksums in ksqlDB). When an object exists but its file changed since, ``IF NOT
  EXISTS`` would silently keep the old query: the run fails and names the command that
  replaces it (``--replace NAME``: terminate its query, drop it keeping its topic, create it
  again from the file, re-reading the source from the earliest offset).
- Finally every persistent query must be RUNNING (``SHOW QUERIES``); otherwise the run fails
  with the errors ksqlDB recorded for the query (``EXPLAIN <id>``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from producers.env_settings import EnvSettings, env_name
from producers.kafka.topics import topic_variables
from producers.logs import console_script, hide_secrets
from producers.reachability import UnreachableError, reason_of, require_url
from producers.retry import Deadline, NotReadyError
from producers.settings import Settings
from provisioning.ksqldb_client import (
    KsqlClient,
    KsqlError,
    KsqlStatementError,
    PersistentQuery,
    StatementResult,
)
from provisioning.ksqldb_statements import KsqlStatement, load_statements
from provisioning.ready_file import (
    add_keep_running_option,
    clear_ready_file,
    idle_until_stopped,
)

log = logging.getLogger(__name__)

QUERY_PROPERTIES = {"ksql.streams.auto.offset.reset": "earliest"}
LEDGER_STREAM = "COINS_KSQLDB_APPLIED"
# Its topic is a setting like every other (COINS_TOPIC_KSQLDB_APPLIED), substituted by ksqlDB.
LEDGER_STATEMENT = (
    f"CREATE STREAM IF NOT EXISTS {LEDGER_STREAM} (OBJECT_NAME VARCHAR KEY, CHECKSUM VARCHAR, "
    "SOURCE_FILE VARCHAR) WITH (KAFKA_TOPIC='${COINS_TOPIC_KSQLDB_APPLIED}', PARTITIONS=1, "
    "KEY_FORMAT='KAFKA', VALUE_FORMAT='JSON');"
)
REPLACE_COMMAND = "docker compose run --rm ksqldb-init coins-ksql-apply --replace {name}"


class KsqlEditedStatementError(KsqlError):
    """A statement file changed after its object was created; IF NOT EXISTS would hide it."""


class KsqlQueryNotRunningError(KsqlError):
    """A persistent query is missing or not RUNNING after the statements were applied."""


class KsqlApplierSettings(EnvSettings):
    """Environment (``KSQLDB_*``) or ``.env`` settings of the applier."""

    model_config = SettingsConfigDict(env_prefix="KSQLDB_")

    url: str = Field(
        default="http://localhost:8088",
        description="ksqlDB REST endpoint; the default is the stack's port on this machine.",
    )
    statements_dir: Path = Field(default=Path("ksqldb"), description="folder of *.sql files")
    timeout_seconds: float = Field(default=300.0, gt=0, description="deadline for the whole run")
    request_timeout_seconds: float = Field(default=30.0, gt=0, description="one HTTP request")
    query_running_timeout_seconds: float = Field(
        default=60.0, gt=0, description="how long the persistent queries may take to be RUNNING"
    )
    username: str | None = Field(default=None, description="basic auth (managed ksqlDB)")
    password: SecretStr | None = Field(default=None, description="basic auth secret")


class Outcome(Enum):
    CREATED = "created"
    ALREADY_EXISTED = "already existed"
    REPLACED = "replaced"


@dataclass(frozen=True)
class Applied:
    statement: KsqlStatement
    outcome: Outcome
    message: str


def apply_statements(
    client: KsqlClient,
    statements: Sequence[KsqlStatement],
    deadline: Deadline,
    *,
    replace: Collection[str] = (),
) -> list[Applied]:
    """Send every statement in order; stop at the first one the server refuses."""
    client.wait_until_healthy(deadline)
    objects = {_object(statement)[1]: statement for statement in statements}
    unknown = sorted({name.upper() for name in replace} - set(objects))
    if unknown:
        raise KsqlError(
            f"--replace {', '.join(unknown)}: no statement creates it (known: {', '.join(objects)})"
        )
    variables = statements[0].variables if statements else {}
    ledger = Ledger(client, deadline, variables)
    replaced = _drop_for_replacement(client, statements, {n.upper() for n in replace}, deadline)
    applied: list[Applied] = []
    last_command: int | None = ledger.last_command
    for statement in statements:
        kind, name = _object(statement)
        topic = statement.source_topic
        if topic is not None:
            log.info("%s: waiting for topic %s", statement.location, topic)
            client.wait_for_topic(topic, deadline)
        try:
            result = client.execute(
                statement.text,
                properties=QUERY_PROPERTIES,
                variables=statement.variables,
                deadline=deadline,
                after_command=last_command,
            )
        except KsqlStatementError as error:
            raise KsqlStatementError(
                f"{statement.location}: {statement.text}",
                error.status_code,
                error.server_message,
                error.error_code,
            ) from error
        if result.command_sequence_number is not None:
            last_command = result.command_sequence_number
        if result.is_if_not_exists_answer(kind, name):
            ledger.check_unchanged(statement, name)
            applied.append(Applied(statement, Outcome.ALREADY_EXISTED, result.message))
            log.info("%s: already exists (%s)", statement.location, result.message)
            continue
        _require_created(statement, result)
        last_command = ledger.record(statement, name) or last_command
        outcome = Outcome.REPLACED if name in replaced else Outcome.CREATED
        applied.append(Applied(statement, outcome, result.message))
        log.info("%s: %s (%s)", statement.location, outcome.value, result.message)
    return applied


def _object(statement: KsqlStatement) -> tuple[str, str]:
    created = statement.created_object
    if created is None:
        raise KsqlError(f"{statement.location}: only CREATE STREAM/TABLE statements are applied")
    return created


def _require_created(statement: KsqlStatement, result: StatementResult) -> None:
    """A CREATE answered with anything but a command status did not create the object."""
    if result.entity_type != "currentStatus":
        raise KsqlStatementError(
            f"{statement.location}: {statement.text}",
            200,
            f"unexpected answer ({result.entity_type or 'no entity'}): {result.message}",
        )


class Ledger:
    """The checksum of each applied statement, kept in ksqlDB itself (stream
    ``COINS_KSQLDB_APPLIED``, topic ``COINS_TOPIC_KSQLDB_APPLIED``): the latest row per object
    wins."""

    def __init__(
        self, client: KsqlClient, deadline: Deadline, variables: Mapping[str, str]
    ) -> None:
        self._client = client
        self._deadline = deadline
        result = client.execute(
            LEDGER_STATEMENT, properties={}, variables=variables, deadline=deadline
        )
        if not (
            result.is_if_not_exists_answer("stream", LEDGER_STREAM)
            or result.entity_type == "currentStatus"
        ):
            raise KsqlStatementError(LEDGER_STATEMENT, 200, f"unexpected answer: {result.message}")
        self.last_command = result.command_sequence_number
        self._checksums: dict[str, str] = {}
        self.readable = True
        try:
            rows = client.pull_query(f"SELECT OBJECT_NAME, CHECKSUM FROM {LEDGER_STREAM};")
        except KsqlStatementError as error:
            # Edit detection is a safeguard, not a reason to leave the stack without its
            # queries: a server that refuses the pull query only loses the safeguard.
            log.warning("cannot read %s, edited statements go undetected: %s", LEDGER_STREAM, error)
            self.readable = False
            rows = []
        for row in rows:
            if len(row) >= 2 and isinstance(row[0], str) and isinstance(row[1], str):
                self._checksums[row[0]] = row[1]

    def record(self, statement: KsqlStatement, name: str) -> int | None:
        source_file = statement.source.name.replace("'", "''")
        result = self._client.execute(
            f"INSERT INTO {LEDGER_STREAM} (OBJECT_NAME, CHECKSUM, SOURCE_FILE) VALUES "
            f"('{name}', '{statement.checksum}', '{source_file}');",
            properties={},
            deadline=self._deadline,
        )
        self._checksums[name] = statement.checksum
        return result.command_sequence_number

    def check_unchanged(self, statement: KsqlStatement, name: str) -> None:
        if not self.readable:
            return
        recorded = self._checksums.get(name)
        if recorded is None:
            # Created before this ledger existed (or by hand): adopt what the file says now.
            log.warning(
                "%s: %s exists but no checksum was recorded for it; recording the file's. If "
                "the running object was created from another text, replace it: %s",
                statement.location,
                name,
                REPLACE_COMMAND.format(name=name),
            )
            self.record(statement, name)
            return
        if recorded != statement.checksum:
            raise KsqlEditedStatementError(
                f"{statement.location}: {name} already exists and was created from another "
                f"version of this statement (checksum {recorded[:12]}, file "
                f"{statement.checksum[:12]}). IF NOT EXISTS keeps the running one, so the edit "
                "would be ignored. To apply it (the query is terminated, the object dropped "
                "with its output topic kept, then created again, re-reading its source from "
                "the earliest offset): "
                f"{REPLACE_COMMAND.format(name=name)}  (or `make ksql-apply REPLACE={name}`)"
            )


def _drop_for_replacement(
    client: KsqlClient,
    statements: Sequence[KsqlStatement],
    names: set[str],
    deadline: Deadline,
) -> set[str]:
    """Terminate the queries writing into each named object and drop it (topic kept).

    Dependants are dropped first (reverse file order); ksqlDB refuses to drop a source other
    queries still read, and that refusal is reported as is.
    """
    dropped: set[str] = set()
    if not names:
        return dropped
    queries = client.show_queries()
    for statement in reversed(statements):
        kind, name = _object(statement)
        if name not in names:
            continue
        for query in queries:
            if name in query.sinks:
                log.info("replacing %s: TERMINATE %s", name, query.query_id)
                client.execute(f"TERMINATE {query.query_id};", properties={}, deadline=deadline)
        log.info("replacing %s: DROP %s (its topic is kept)", name, kind.upper())
        client.execute(f"DROP {kind.upper()} IF EXISTS {name};", properties={}, deadline=deadline)
        dropped.add(name)
    return dropped


def check_queries_running(
    client: KsqlClient, statements: Sequence[KsqlStatement], deadline: Deadline
) -> list[PersistentQuery]:
    """Wait until every CREATE ... AS SELECT has a RUNNING persistent query, else fail.

    ``QueryStatusCount`` (confluentinc/ksql) reports ERROR when any Kafka Streams thread of the
    query failed; ksqlDB retries such a query, so the check polls until ``deadline`` before
    failing with the query's own errors.
    """
    expected = [_object(s)[1] for s in statements if s.runs_a_query]

    def all_running() -> list[PersistentQuery]:
        queries = client.show_queries()
        problems: list[str] = []
        for name in expected:
            writers = [q for q in queries if name in q.sinks]
            if not writers:
                problems.append(f"no persistent query writes into {name}")
            for query in writers:
                if query.state != "RUNNING":
                    errors = client.query_errors(query.query_id)
                    detail = errors[-1] if errors else "ksqlDB recorded no error message"
                    problems.append(f"query {query.query_id} ({name}) is {query.state}: {detail}")
        if problems:
            raise NotReadyError("; ".join(problems))
        return [q for q in queries if set(q.sinks) & set(expected)]

    try:
        return client.poll(all_running, deadline)
    except NotReadyError as problems:
        raise KsqlQueryNotRunningError(
            f"{problems}. See `docker compose logs ksqldb-server`; fix the "
            "statement and replace it with " + REPLACE_COMMAND.format(name="<NAME>")
        ) from None


def build_http_client(
    settings: KsqlApplierSettings, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """The HTTP client for ``settings``; ``transport`` replaces the network (tests)."""
    auth: httpx.BasicAuth | None = None
    if settings.username and settings.password is not None:
        auth = httpx.BasicAuth(settings.username, settings.password.get_secret_value())
    return httpx.Client(
        base_url=settings.url,
        auth=auth,
        timeout=httpx.Timeout(settings.request_timeout_seconds, connect=5.0),
        transport=transport,
    )


def run(
    settings: KsqlApplierSettings,
    *,
    topics: Mapping[str, str] | None = None,
    replace: Collection[str] = (),
    http_factory: Callable[[KsqlApplierSettings], httpx.Client] | None = None,
    client_factory: Callable[[httpx.Client], KsqlClient] = KsqlClient,
) -> list[Applied]:
    """Load the files, apply them within ``settings.timeout_seconds``, then check the queries run.

    ``topics``: the topic names by variable, sent as session variables; by default the
    producers' settings (``COINS_TOPIC_*``, environment or .env).
    """
    variables = topic_variables(Settings()) if topics is None else topics
    statements = load_statements(settings.statements_dir, variables)
    log.info(
        "applying %d statements from %s to %s",
        len(statements),
        settings.statements_dir,
        settings.url,
    )
    with (http_factory or build_http_client)(settings) as http:
        client = client_factory(http)
        applied = apply_statements(
            client, statements, Deadline.after(settings.timeout_seconds), replace=replace
        )
        running = check_queries_running(
            client, statements, Deadline.after(settings.query_running_timeout_seconds)
        )
    for query in running:
        log.info("query %s %s -> %s", query.query_id, query.state, ", ".join(query.sink_topics))
    return applied


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="coins-ksql-apply",
        description="Apply ksqldb/*.sql to a ksqlDB server (ordered, idempotent).",
    )
    parser.add_argument("--url", help="ksqlDB REST endpoint (env KSQLDB_URL)")
    parser.add_argument("--dir", type=Path, help="statements folder (env KSQLDB_STATEMENTS_DIR)")
    parser.add_argument(
        "--timeout", type=float, help="deadline in seconds (env KSQLDB_TIMEOUT_SECONDS)"
    )
    parser.add_argument(
        "--replace",
        action="append",
        default=[],
        metavar="NAME",
        help="terminate, drop (keeping its topic) and create again the object NAME from its "
        "file, e.g. after editing it; repeatable",
    )
    add_keep_running_option(parser)
    return parser.parse_args(argv)


@console_script
def main(argv: Sequence[str] | None = None, *, transport: httpx.BaseTransport | None = None) -> int:
    """``ksqldb-apply``; ``transport`` replaces the network (tests)."""
    args = _parse_args(argv)
    overrides: dict[str, object] = {}
    if args.url:
        overrides["url"] = args.url
    if args.dir:
        overrides["statements_dir"] = args.dir
    if args.timeout:
        overrides["timeout_seconds"] = args.timeout
    clear_ready_file(args.keep_running)
    try:
        settings = KsqlApplierSettings(**overrides)  # type: ignore[arg-type]
    except ValueError as error:
        log.error("invalid configuration: %s", error)
        return 2
    hide_secrets(settings)
    try:
        applied = run(
            settings,
            replace=args.replace,
            http_factory=lambda config: build_http_client(config, transport),
        )
    except (KsqlError, OSError, ValueError) as error:
        problem: Exception = error
        if isinstance(error, KsqlError) and reason_of(error) is not None:
            try:  # a connection failure: say it with the setting to change
                require_url(settings.url, "ksqlDB", env_name(KsqlApplierSettings, "url"))
            except UnreachableError as unreachable:
                problem = unreachable
        log.error("ksqlDB statements not applied: %s", problem)
        return 1
    counts = {outcome: 0 for outcome in Outcome}
    for item in applied:
        counts[item.outcome] += 1
    log.info(
        "done: %s; every persistent query RUNNING",
        ", ".join(f"{count} {outcome.value}" for outcome, count in counts.items()),
    )
    if args.keep_running is not None:
        idle_until_stopped(args.keep_running)
    return 0


if __name__ == "__main__":
    sys.exit(main())
