"""A fake ksqlDB REST server (an ``httpx.MockTransport`` handler), as unkind as the real one.

Every behaviour is modelled on the ksqlDB source (github.com/confluentinc/ksql, master after
8.0; paths below are relative to it) and answers with its real entity shapes and texts:

- ``GET /healthcheck``: ``{"isHealthy": ..., "details": ...}``; 503 while starting, and 200
  even when ``isHealthy`` is false (``rest/server/resources/HealthCheckResource.java``; see
  docs: engines.md).
- ``POST /ksql`` answers a JSON array of ``KsqlEntity`` objects, typed by ``@type``
  (``ksqldb-rest-model/.../rest/entity/KsqlEntity.java``): ``currentStatus``
  (``CommandStatusEntity``: ``commandId``, ``commandStatus {status, message, queryId}``,
  ``commandSequenceNumber``), ``warning_entity`` (``WarningEntity``: ``message``),
  ``kafka_topics`` (``KafkaTopicsList``), ``queries`` (``Queries`` of ``RunningQuery``:
  ``queryString, sinks, sinkKafkaTopics, id, statusCount, queryType, state``),
  ``queryDescription`` (``QueryDescriptionEntity``; ``queryErrors`` of ``QueryError``).
  A refused statement is HTTP 400 with ``KsqlStatementErrorMessage``
  (``@type statement_error``, ``error_code`` 40001, ``message``, ``statementText``,
  ``entities``).
- ``CREATE ... IF NOT EXISTS`` on an existing source answers HTTP 200 with one
  ``warning_entity`` "Cannot add stream NAME: A stream with the same name already exists."
  (``rest/server/computation/DistributingExecutor.java`` ``checkIfNotExistsResponse``). Without
  IF NOT EXISTS the same case is a 400 "Cannot add table 'NAME': A table with the same name
  already exists" (``engine/EngineExecutor.java``).
- The phrase "already exists" is also in failures that are NOT "the object exists":
  a sink topic that exists with other partitions/replicas/retention than the query needs
  (``ksqldb-engine/.../services/TopicValidationUtil.java``, reached through
  ``KafkaTopicClientImpl.createTopic``; a CREATE TABLE AS SELECT's sink gets the source
  topic's partitions and, for a windowed table, ``retention.ms`` = the window RETENTION,
  ``rest/.../TopicCreateInjector.java``), and "Query ID 'X' already exists."
  (``engine/EngineExecutor.java``). Both are HTTP 400 and create nothing.
- ``CREATE STREAM`` over a missing topic without ``PARTITIONS``: 400 "Kafka topic does not
  exist: <topic>" (``ddl/commands/CreateSourceFactory.java``).
- A topic ksqlDB must create under a name Kafka refuses (Kafka's ``Topic.validate``: ASCII
  letters, digits, ``.``, ``_``, ``-``, at most 249 characters; e.g. an unsubstituted
  ``${NAME}``): 400 "Failed to guarantee existence of topic <topic>"
  (``services/KafkaTopicClientImpl.createTopic``).
- Persistent query ids ``CTAS_<SINK>_<n>`` / ``CSAS_<SINK>_<n>`` (``engine/QueryIdUtil.java``);
  a query's ``state`` is ERROR when one of its status counts is ERROR, else RUNNING
  (``rest/entity/QueryStatusCount.java``); ``EXPLAIN <id>`` lists its ``queryErrors``.
- ``TERMINATE <id>`` answers "Query terminated." (``InteractiveStatementExecutor.java``);
  ``DROP`` of a source that queries still read from or write into is refused with "Cannot drop
  NAME. The following queries read from this source: [...]" (``engine/EngineContext.java``).
- ``INSERT INTO s (cols) VALUES (...)`` appends a row; ``POST /query`` runs a pull query over a
  stream (a scan in offset order) and answers ``[{"header": {...}}, {"row": {"columns":
  [...]}}, ...]`` (``rest/entity/StreamedRow.java``).
- ``GET /status/<commandId>``: ``{"status": ..., "message": ...}``.
- ``sessionVariables`` of a ``POST /ksql`` request (``rest/entity/KsqlRequest.java``) are
  substituted into the statement before it is parsed, and the substituted text is what the
  server keeps and shows (``rest/server/execution/RequestHandler.execute`` ->
  ``engine/EngineContext.prepare`` -> ``parser/VariableSubstitutor.java``): only when the map
  is not empty; names case-insensitive (``rest/SessionProperties.java``, a
  ``CASE_INSENSITIVE_ORDER`` TreeMap); an unknown ``${name}`` inside a string literal stays as
  written (``lookupVariables`` substitutes known names only); ``$${`` is a literal ``${``
  (commons-text ``StringSubstitutor``'s escape); a value's ``'`` is doubled
  (``util/ParserUtil.sanitize``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from provisioning.ksqldb_client import KSQL_MEDIA_TYPE

_CREATE = re.compile(
    r"^\s*CREATE\s+(?P<or_replace>OR\s+REPLACE\s+)?(?P<kind>STREAM|TABLE)\s+"
    r"(?P<if_not_exists>IF\s+NOT\s+EXISTS\s+)?(?P<name>\w+)",
    re.IGNORECASE,
)
_AS_SELECT = re.compile(r"\bAS\s+SELECT\b", re.IGNORECASE)
_FROM = re.compile(r"\bFROM\s+(?P<source>\w+)", re.IGNORECASE)
_RETENTION = re.compile(r"\bRETENTION\s+(?P<amount>\d+)\s+(?P<unit>\w+)", re.IGNORECASE)
_INSERT_VALUES = re.compile(
    r"^\s*INSERT\s+INTO\s+(?P<name>\w+)\s*\((?P<columns>[^)]*)\)\s*VALUES\s*\((?P<values>.*)\)\s*;",
    re.IGNORECASE | re.DOTALL,
)
_DROP = re.compile(
    r"^\s*DROP\s+(?P<kind>STREAM|TABLE)\s+(?P<if_exists>IF\s+EXISTS\s+)?(?P<name>\w+)"
    r"(?P<delete_topic>\s+DELETE\s+TOPIC)?\s*;",
    re.IGNORECASE,
)
_TERMINATE = re.compile(r"^\s*TERMINATE\s+(?P<id>\w+)\s*;", re.IGNORECASE)
_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(?P<id>\w+)\s*;", re.IGNORECASE)
_SELECT = re.compile(
    r"^\s*SELECT\s+(?P<columns>.+?)\s+FROM\s+(?P<name>\w+)\s*;", re.IGNORECASE | re.DOTALL
)
_KAFKA_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
_VARIABLE_REFERENCE = re.compile(r"(?P<escaped>\$)?\$\{(?P<name>[^}]*)\}")
_UNIT_MS = {"SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}
DEFAULT_RETENTION_MS = 604_800_000  # Kafka's own default for retention.ms


@dataclass
class FakeTopic:
    partitions: int = 3
    replicas: int = 1
    retention_ms: int = DEFAULT_RETENTION_MS


@dataclass
class FakeSource:
    kind: str  # "STREAM" or "TABLE"
    statement: str
    topic: str
    rows: list[dict[str, str]] = field(default_factory=list)


@dataclass
class FakeQuery:
    query_id: str
    statement: str
    sink: str
    sink_topic: str
    source: str
    state: str = "RUNNING"
    errors: list[str] = field(default_factory=list)


@dataclass
class FakeKsqlServer:
    """State of the fake server; ``transport`` plugs it into an ``httpx.Client``."""

    unhealthy_answers: int = 0
    healthcheck_errors: int = 0
    unhealthy_with_200: int = 0
    topics: dict[str, FakeTopic] = field(default_factory=dict)
    topic_appears_after_polls: dict[str, int] = field(default_factory=dict)
    sources: dict[str, FakeSource] = field(default_factory=dict)
    queries: dict[str, FakeQuery] = field(default_factory=dict)
    reject: dict[str, tuple[int, str]] = field(default_factory=dict)
    # Queries whose sink name is a key here start in ERROR with that error message.
    failing_queries: dict[str, str] = field(default_factory=dict)
    # Sink names whose next CREATE ... AS SELECT is refused with "Query ID ... already exists".
    query_id_taken: set[str] = field(default_factory=set)
    pending_status_polls: int = 0
    final_command_state: str = "SUCCESS"
    requests: list[httpx.Request] = field(default_factory=list)
    ksql_payloads: list[dict[str, Any]] = field(default_factory=list)
    sequence: int = 0
    _status_polls: dict[str, int] = field(default_factory=dict)
    _topic_polls: int = 0

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url="http://ksqldb:8088", transport=self.transport)

    def add_topic(self, name: str, partitions: int = 3, retention_ms: int | None = None) -> None:
        self.topics[name] = FakeTopic(
            partitions=partitions, retention_ms=retention_ms or DEFAULT_RETENTION_MS
        )

    @property
    def objects(self) -> dict[str, str]:
        """Source name -> the statement that created it."""
        return {name: source.statement for name, source in self.sources.items()}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/healthcheck":
            return self._healthcheck()
        if path == "/ksql" and request.method == "POST":
            return self._ksql(json.loads(request.content))
        if path == "/query" and request.method == "POST":
            return self._query(json.loads(request.content))
        if path.startswith("/status/"):
            return self._status(path.removeprefix("/status/"))
        return httpx.Response(404, json={"error_code": 40400, "message": f"no route {path}"})

    # ---- endpoints ----------------------------------------------------------------------
    def _healthcheck(self) -> httpx.Response:
        if self.healthcheck_errors > 0:
            self.healthcheck_errors -= 1
            raise httpx.ConnectError("Connection refused")
        if self.unhealthy_answers > 0:
            self.unhealthy_answers -= 1
            return httpx.Response(
                503, json={"isHealthy": False, "details": {"kafka": {"isHealthy": False}}}
            )
        if self.unhealthy_with_200 > 0:
            self.unhealthy_with_200 -= 1
            return httpx.Response(
                200,
                json={
                    "isHealthy": False,
                    "details": {
                        "metastore": {"isHealthy": True},
                        "kafka": {"isHealthy": True},
                        "commandRunner": {"isHealthy": False},
                    },
                },
            )
        return httpx.Response(200, json={"isHealthy": True, "details": {}})

    def _ksql(self, payload: dict[str, Any]) -> httpx.Response:
        self.ksql_payloads.append(payload)
        statement = _substitute(payload["ksql"], payload.get("sessionVariables") or {})
        upper = statement.strip().upper()
        if upper.startswith("SHOW TOPICS"):
            return self._show_topics(statement)
        if upper.startswith(("SHOW QUERIES", "LIST QUERIES")):
            return self._show_queries(statement)
        for fragment, (status, message) in self.reject.items():
            if fragment in statement:
                return _error(status, message, statement)
        if match := _EXPLAIN.match(statement):
            return self._explain(match.group("id").upper(), statement)
        if match := _TERMINATE.match(statement):
            return self._terminate(match.group("id").upper(), statement)
        if match := _DROP.match(statement):
            return self._drop(match, statement)
        if match := _INSERT_VALUES.match(statement):
            return self._insert(match, statement)
        match = _CREATE.match(statement)
        if not match:
            return _error(400, f"line 1:1: mismatched input '{statement[:10]}'", statement)
        return self._create(match, statement)

    def _create(self, match: re.Match[str], statement: str) -> httpx.Response:
        kind = match.group("kind").upper()
        name = match.group("name").upper()
        existing = self.sources.get(name)
        if existing is not None and not match.group("or_replace"):
            if match.group("if_not_exists"):
                # DistributingExecutor.checkIfNotExistsResponse
                return _entities(
                    {
                        "@type": "warning_entity",
                        "statementText": statement,
                        "message": f"Cannot add {kind.lower()} {name}: A {kind.lower()} with "
                        "the same name already exists.",
                        "warnings": [],
                    }
                )
            # EngineExecutor.getDdlCommand / CreateSourceFactory
            return _error(
                400,
                f"Cannot add {kind.lower()} '{name}': A {existing.kind.lower()} with the same "
                "name already exists",
                statement,
            )
        topic = _with_property(statement, "KAFKA_TOPIC") or name
        partitions = _with_property(statement, "PARTITIONS")
        if _AS_SELECT.search(statement):
            return self._create_as_select(kind, name, topic, partitions, statement)
        if topic not in self.topics:
            if partitions is None:
                return _error(400, f"Kafka topic does not exist: {topic}", statement)
            if not _KAFKA_TOPIC_NAME.fullmatch(topic) or topic in {".", ".."}:
                return _error(400, f"Failed to guarantee existence of topic {topic}", statement)
            self.topics[topic] = FakeTopic(partitions=int(partitions))
        self.sources[name] = FakeSource(kind=kind, statement=statement, topic=topic)
        return self._command(kind, name, statement, f"{kind.title()} created", None)

    def _create_as_select(
        self, kind: str, name: str, topic: str, partitions: str | None, statement: str
    ) -> httpx.Response:
        select = statement[_AS_SELECT.search(statement).start() :]  # type: ignore[union-attr]
        from_match = _FROM.search(select)
        source_name = from_match.group("source").upper() if from_match else ""
        source = self.sources.get(source_name)
        if source is None:
            return _error(400, f"{source_name} does not exist.", statement)
        if name in self.query_id_taken:
            query_id = f"{'CTAS' if kind == 'TABLE' else 'CSAS'}_{name}_{self.sequence}"
            return _error(400, f"Query ID '{query_id}' already exists.", statement)
        required_partitions = (
            int(partitions) if partitions else self.topics[source.topic].partitions
        )
        retention = _RETENTION.search(statement)
        required_retention = None
        if retention and kind == "TABLE":
            unit = retention.group("unit").upper().rstrip("S")
            required_retention = int(retention.group("amount")) * _UNIT_MS[unit]
        existing_topic = self.topics.get(topic)
        if existing_topic is not None:
            # KafkaTopicClientImpl.createTopic -> TopicValidationUtil.validateTopicProperties
            wrong_retention = (
                required_retention is not None and existing_topic.retention_ms != required_retention
            )
            if existing_topic.partitions != required_partitions or wrong_retention:
                message = (
                    f"A Kafka topic with the name '{topic}' already exists, with different "
                    "partition/replica configuration than required. KSQL expects "
                    f"{required_partitions} partitions (topic has {existing_topic.partitions}), "
                    f"1 replication factor (topic has {existing_topic.replicas})"
                )
                if required_retention is not None:
                    message = message.replace("partition/replica", "partition/replica/retention")
                    message += (
                        f", and {required_retention} retention "
                        f"(topic has {existing_topic.retention_ms})."
                    )
                else:
                    message += "."
                return _error(400, message, statement)
        elif not _KAFKA_TOPIC_NAME.fullmatch(topic) or topic in {".", ".."}:
            return _error(400, f"Failed to guarantee existence of topic {topic}", statement)
        else:
            self.topics[topic] = FakeTopic(
                partitions=required_partitions,
                retention_ms=required_retention or DEFAULT_RETENTION_MS,
            )
        self.sources[name] = FakeSource(kind=kind, statement=statement, topic=topic)
        # the query id carries the number of the command that creates it (QueryIdUtil)
        query_id = f"{'CTAS' if kind == 'TABLE' else 'CSAS'}_{name}_{self.sequence + 1}"
        error = self.failing_queries.get(name)
        self.queries[query_id] = FakeQuery(
            query_id=query_id,
            statement=statement,
            sink=name,
            sink_topic=topic,
            source=source_name,
            state="ERROR" if error else "RUNNING",
            errors=[error] if error else [],
        )
        return self._command(kind, name, statement, f"Created query with ID {query_id}", query_id)

    def _command(
        self, kind: str, name: str, statement: str, message: str, query_id: str | None
    ) -> httpx.Response:
        self.sequence += 1
        command_id = f"{kind.lower()}/`{name}`/create"
        state = "QUEUED" if self.pending_status_polls else self.final_command_state
        if state not in {"SUCCESS", "QUEUED"}:
            message = "Could not build query"
        return _entities(
            {
                "@type": "currentStatus",
                "statementText": statement,
                "commandId": command_id,
                "commandStatus": {"status": state, "message": message, "queryId": query_id},
                "commandSequenceNumber": self.sequence,
                "warnings": [],
            }
        )

    def _insert(self, match: re.Match[str], statement: str) -> httpx.Response:
        name = match.group("name").upper()
        source = self.sources.get(name)
        if source is None:
            message = f"Cannot insert values into an unknown stream/table: {name}"
            return _error(400, message, statement)
        columns = [c.strip().upper() for c in match.group("columns").split(",")]
        values = re.findall(r"'((?:[^']|'')*)'", match.group("values"))
        if len(values) != len(columns):
            return _error(400, "Expected a value for each column", statement)
        source.rows.append({c: v.replace("''", "'") for c, v in zip(columns, values, strict=True)})
        # InsertValuesExecutor answers with no entity.
        return _entities()

    def _drop(self, match: re.Match[str], statement: str) -> httpx.Response:
        name = match.group("name").upper()
        kind = match.group("kind").upper()
        source = self.sources.get(name)
        if source is None:
            if match.group("if_exists"):
                return self._command(kind, name, statement, f"Source {name} does not exist.", None)
            return _error(400, f"{kind.title()} {name} does not exist.", statement)
        readers = [q.query_id for q in self.queries.values() if q.source == name]
        writers = [q.query_id for q in self.queries.values() if q.sink == name]
        if readers or writers:
            # EngineContext: a source still used by queries cannot be dropped.
            return _error(
                400,
                f"Cannot drop {name}.\nThe following queries read from this source: "
                f"[{', '.join(readers)}].\nThe following queries write into this source: "
                f"[{', '.join(writers)}].\nYou need to terminate them before dropping {name}.",
                statement,
            )
        del self.sources[name]
        if match.group("delete_topic"):
            self.topics.pop(source.topic, None)
        return self._command(
            kind, name, statement, f"Source {name} (topic: {source.topic}) was dropped.", None
        )

    def _terminate(self, query_id: str, statement: str) -> httpx.Response:
        if query_id not in self.queries:
            return _error(400, f"Unknown queryId: {query_id}", statement)
        del self.queries[query_id]
        self.sequence += 1
        return _entities(
            {
                "@type": "currentStatus",
                "statementText": statement,
                "commandId": f"terminate/{query_id}/execute",
                "commandStatus": {"status": "SUCCESS", "message": "Query terminated."},
                "commandSequenceNumber": self.sequence,
                "warnings": [],
            }
        )

    def _explain(self, query_id: str, statement: str) -> httpx.Response:
        query = self.queries.get(query_id)
        if query is None:
            message = f"Query with id:{query_id} does not exist, use SHOW QUERIES"
            return _error(400, message, statement)
        return _entities(
            {
                "@type": "queryDescription",
                "statementText": statement,
                "queryDescription": {
                    "id": query.query_id,
                    "statementText": query.statement,
                    "sources": [query.source],
                    "sinks": [query.sink],
                    "queryType": "PERSISTENT",
                    "state": query.state,
                    "queryErrors": [
                        {"timestamp": 1_700_000_000_000, "errorMessage": text, "type": "USER"}
                        for text in query.errors
                    ],
                },
                "warnings": [],
            }
        )

    def _show_topics(self, statement: str) -> httpx.Response:
        self._topic_polls += 1
        for topic, polls in list(self.topic_appears_after_polls.items()):
            if self._topic_polls > polls and topic not in self.topics:
                self.topics[topic] = FakeTopic()
        return _entities(
            {
                "@type": "kafka_topics",
                "statementText": statement,
                "topics": [
                    {"name": name, "replicaInfo": [topic.replicas] * topic.partitions}
                    for name, topic in sorted(self.topics.items())
                ],
                "warnings": [],
            }
        )

    def _show_queries(self, statement: str) -> httpx.Response:
        return _entities(
            {
                "@type": "queries",
                "statementText": statement,
                "queries": [
                    {
                        "queryString": query.statement,
                        "sinks": [query.sink],
                        "sinkKafkaTopics": [query.sink_topic],
                        "id": query.query_id,
                        "statusCount": {query.state: 1},
                        "queryType": "PERSISTENT",
                        "state": query.state,
                    }
                    for query in self.queries.values()
                ],
                "warnings": [],
            }
        )

    def _query(self, payload: dict[str, Any]) -> httpx.Response:
        self.ksql_payloads.append(payload)
        statement: str = payload["ksql"]
        for fragment, (status, message) in self.reject.items():
            if fragment in statement:
                return _error(status, message, statement)
        match = _SELECT.match(statement)
        if not match:
            return _error(400, f"line 1:1: mismatched input '{statement[:10]}'", statement)
        source = self.sources.get(match.group("name").upper())
        if source is None:
            return _error(400, f"{match.group('name').upper()} does not exist.", statement)
        columns = [c.strip().upper() for c in match.group("columns").split(",")]
        schema = ", ".join(f"`{c}` STRING" for c in columns)
        body: list[dict[str, Any]] = [
            {"header": {"queryId": "query_1700000000000", "schema": schema}}
        ]
        body += [{"row": {"columns": [row.get(c) for c in columns]}} for row in source.rows]
        return httpx.Response(200, json=body, headers={"Content-Type": KSQL_MEDIA_TYPE})

    def _status(self, command_id: str) -> httpx.Response:
        polls = self._status_polls.get(command_id, 0) + 1
        self._status_polls[command_id] = polls
        if polls <= self.pending_status_polls:
            return httpx.Response(200, json={"status": "EXECUTING", "message": "running"})
        message = "done" if self.final_command_state == "SUCCESS" else "Could not build query"
        return httpx.Response(200, json={"status": self.final_command_state, "message": message})

    # ---- helpers for assertions ---------------------------------------------------------
    def executed_statements(self) -> list[str]:
        """The CREATE statements of ``ksqldb/`` that were sent, as the server ran them (session
        variables substituted; reads and bookkeeping left out)."""
        return [
            _substitute(payload["ksql"], payload.get("sessionVariables") or {})
            for payload in self.ksql_payloads
            if payload["ksql"].lstrip().upper().startswith("CREATE")
            and "COINS_KSQLDB_APPLIED" not in payload["ksql"].upper()
        ]


def _substitute(statement: str, variables: dict[str, Any]) -> str:
    """``VariableSubstitutor.substitute`` as the server runs it on a request's statement."""
    if not variables:
        return statement  # EngineContext.substituteVariables: an empty map changes nothing
    known = {name.lower(): str(value).replace("'", "''") for name, value in variables.items()}

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return match.group(0)[1:]
        return known.get(match.group("name").lower(), match.group(0))

    return _VARIABLE_REFERENCE.sub(replace, statement)


def _with_property(statement: str, name: str) -> str | None:
    quoted = re.search(rf"\b{name}\s*=\s*'([^']*)'", statement, re.IGNORECASE)
    if quoted:
        return quoted.group(1)
    bare = re.search(rf"\b{name}\s*=\s*(\d+)", statement, re.IGNORECASE)
    return bare.group(1) if bare else None


def _entities(*entities: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=list(entities), headers={"Content-Type": KSQL_MEDIA_TYPE})


def _error(status: int, message: str, statement: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "@type": "statement_error",
            "error_code": 40001 if status == 400 else 50000,
            "message": message,
            "statementText": statement,
            "entities": [],
        },
    )


@dataclass
class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
