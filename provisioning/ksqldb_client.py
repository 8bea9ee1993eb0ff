"""A small synchronous client for the ksqlDB REST API (the calls the applier needs)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from producers.retry import Deadline, NotReadyError, RetryPolicy, retry_sync

KSQL_MEDIA_TYPE = "application/vnd.ksql.v1+json"
TERMINAL_COMMAND_STATES = frozenset({"SUCCESS", "ERROR", "TERMINATED"})

T = TypeVar("T")


class KsqlError(Exception):
    """ksqlDB refused or failed a request; the message carries the server's own text."""


class KsqlTimeoutError(KsqlError):
    """A deadline passed while waiting for the server, a topic or a command."""


class KsqlStatementError(KsqlError):
    """The server rejected a statement (HTTP 4xx/5xx or a command that ended in ERROR)."""

    def __init__(
        self, statement: str, status_code: int, message: str, error_code: int | None = None
    ) -> None:
        self.statement = statement
        self.status_code = status_code
        self.server_message = message
        self.error_code = error_code
        code = f" error_code {error_code}" if error_code is not None else ""
        super().__init__(f"ksqlDB HTTP {status_code}{code}: {message}\n  statement: {statement}")


@dataclass(frozen=True)
class StatementResult:
    """What the server said about one executed statement."""

    statement: str
    entity_type: str
    message: str
    command_id: str | None
    command_sequence_number: int | None

    def is_if_not_exists_answer(self, kind: str, name: str) -> bool:
        """True only for ksqlDB's exact answer to ``CREATE ... IF NOT EXISTS`` on an existing
        source: HTTP 200 with one ``warning_entity`` whose text is fixed by
        ``DistributingExecutor.checkIfNotExistsResponse`` (confluentinc/ksql). Errors that
        merely contain "already exists" (a sink topic with other partitions,
        ``TopicValidationUtil``; "Query ID ... already exists", ``EngineExecutor``) are HTTP
        400 and never reach this.
        """
        return self.entity_type == "warning_entity" and self.message == (
            f"Cannot add {kind} {name}: A {kind} with the same name already exists."
        )


@dataclass(frozen=True)
class PersistentQuery:
    """One entry of ``SHOW QUERIES`` (ksqlDB's ``RunningQuery`` entity)."""

    query_id: str
    state: str
    sinks: tuple[str, ...]
    sink_topics: tuple[str, ...]
    statement: str


class KsqlClient:
    """``/healthcheck``, ``/ksql`` and ``/status`` of one ksqlDB server."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        poll_interval_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = http
        self._polling = RetryPolicy.every(poll_interval_s)
        self._sleep = sleep

    def poll(self, check: Callable[[], T], deadline: Deadline) -> T:
        """``check()`` every poll interval until it returns; it raises ``NotReadyError`` (the
        last one is re-raised at the deadline) while its condition does not hold yet."""
        return retry_sync(check, self._polling, deadline=deadline, sleep=self._sleep)

    def wait_until_healthy(self, deadline: Deadline) -> None:
        """Poll ``/healthcheck`` until the server reports itself healthy or the deadline passes."""

        def healthy() -> None:
            try:
                response = self._http.get("/healthcheck", headers={"Accept": "application/json"})
            except httpx.TransportError as error:
                raise NotReadyError(f"{type(error).__name__}: {error}") from error
            body = _json_or_none(response)
            if response.status_code == 200 and isinstance(body, dict) and body.get("isHealthy"):
                return
            raise NotReadyError(f"HTTP {response.status_code}: {response.text[:500]}")

        try:
            self.poll(healthy, deadline)
        except NotReadyError as error:
            raise KsqlTimeoutError(f"ksqlDB not healthy before the deadline ({error})") from None

    def health(self) -> tuple[int, Any]:
        """One ``GET /healthcheck``: the status code and the JSON body (None when not JSON)."""
        response = self._http.get("/healthcheck", headers={"Accept": "application/json"})
        return response.status_code, _json_or_none(response)

    def list_topics(self) -> set[str]:
        entities = self._post_ksql("SHOW TOPICS;", properties={})
        names: set[str] = set()
        for entity in entities:
            for topic in entity.get("topics", []) or []:
                if isinstance(topic, dict) and isinstance(topic.get("name"), str):
                    names.add(topic["name"])
        return names

    def show_queries(self) -> list[PersistentQuery]:
        """The persistent queries and their state (``RUNNING``, ``ERROR``, ...)."""
        queries: list[PersistentQuery] = []
        for entity in self._post_ksql("SHOW QUERIES;", properties={}):
            for query in entity.get("queries", []) or []:
                if not isinstance(query, dict) or query.get("queryType", "PERSISTENT") != (
                    "PERSISTENT"
                ):
                    continue
                queries.append(
                    PersistentQuery(
                        query_id=str(query.get("id", "")),
                        state=str(query.get("state") or _aggregate_state(query)),
                        sinks=tuple(str(s) for s in query.get("sinks", []) or []),
                        sink_topics=tuple(str(s) for s in query.get("sinkKafkaTopics", []) or []),
                        statement=str(query.get("queryString", "")),
                    )
                )
        return queries

    def query_errors(self, query_id: str) -> list[str]:
        """The error messages ksqlDB recorded for a query (``EXPLAIN <id>``, newest last)."""
        entities = self._post_ksql(f"EXPLAIN {query_id};", properties={})
        messages: list[str] = []
        for entity in entities:
            description = entity.get("queryDescription") or {}
            for error in description.get("queryErrors", []) or []:
                if isinstance(error, dict) and error.get("errorMessage"):
                    messages.append(str(error["errorMessage"]))
        return messages

    def pull_query(self, statement: str) -> list[list[Any]]:
        """Rows of a pull query (``POST /query``), each a list of column values."""
        response = self._http.post(
            "/query",
            json={
                "ksql": statement,
                "streamsProperties": {"ksql.streams.auto.offset.reset": "earliest"},
            },
            headers={"Accept": KSQL_MEDIA_TYPE, "Content-Type": KSQL_MEDIA_TYPE},
        )
        body = _json_or_none(response)
        if response.status_code >= 400 or not isinstance(body, list):
            raise _statement_error(statement, response)
        rows: list[list[Any]] = []
        for item in body:
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("errorMessage"), dict):
                message = str(item["errorMessage"].get("message", item["errorMessage"]))
                raise KsqlStatementError(statement, response.status_code, message)
            row = item.get("row")
            if isinstance(row, dict) and isinstance(row.get("columns"), list):
                rows.append(row["columns"])
        return rows

    def wait_for_topic(self, topic: str, deadline: Deadline) -> None:
        def listed() -> None:
            if topic not in self.list_topics():
                raise NotReadyError(topic)

        try:
            self.poll(listed, deadline)
        except NotReadyError:
            raise KsqlTimeoutError(
                f"Kafka topic {topic!r} does not exist yet; it is created by the producer "
                "(is the `producer` service running?)"
            ) from None

    def execute(
        self,
        statement: str,
        *,
        properties: Mapping[str, str],
        deadline: Deadline,
        after_command: int | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> StatementResult:
        """Run one statement and wait until its command has finished on the server.

        ``variables`` go as ``sessionVariables``: ksqlDB substitutes each ``${name}`` of the
        statement before running it (``KsqlRequest.java``, ``VariableSubstitutor.java``).
        """
        entities = self._post_ksql(
            statement, properties=properties, after_command=after_command, variables=variables
        )
        entity = entities[0] if entities else {}
        entity_type = str(entity.get("@type", ""))
        command_id = entity.get("commandId")
        sequence = entity.get("commandSequenceNumber")
        status = entity.get("commandStatus") or {}
        message = str(status.get("message") or entity.get("message") or "")
        state = str(status.get("status") or "SUCCESS")
        if isinstance(command_id, str) and state not in TERMINAL_COMMAND_STATES:
            state, message = self._wait_for_command(command_id, statement, deadline)
        if state != "SUCCESS":
            raise KsqlStatementError(statement, 200, f"command ended in {state}: {message}")
        return StatementResult(
            statement=statement,
            entity_type=entity_type,
            message=message,
            command_id=command_id if isinstance(command_id, str) else None,
            command_sequence_number=sequence if isinstance(sequence, int) else None,
        )

    def _wait_for_command(
        self, command_id: str, statement: str, deadline: Deadline
    ) -> tuple[str, str]:
        def finished() -> tuple[str, str]:
            response = self._http.get(
                f"/status/{quote(command_id, safe='/')}", headers={"Accept": KSQL_MEDIA_TYPE}
            )
            body = _json_or_none(response)
            if response.status_code >= 400 or not isinstance(body, dict):
                raise _statement_error(statement, response)
            state = str(body.get("status", ""))
            if state not in TERMINAL_COMMAND_STATES:
                raise NotReadyError(state)
            return state, str(body.get("message", ""))

        try:
            return self.poll(finished, deadline)
        except NotReadyError as error:
            raise KsqlTimeoutError(f"command {command_id} still {error} at the deadline") from None

    def _post_ksql(
        self,
        statement: str,
        *,
        properties: Mapping[str, str],
        after_command: int | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        payload: dict[str, Any] = {"ksql": statement, "streamsProperties": dict(properties)}
        if variables:
            payload["sessionVariables"] = dict(variables)
        if after_command is not None:
            # The server runs this statement only after that command: keeps the files' order.
            payload["commandSequenceNumber"] = after_command
        response = self._http.post(
            "/ksql",
            json=payload,
            headers={"Accept": KSQL_MEDIA_TYPE, "Content-Type": KSQL_MEDIA_TYPE},
        )
        body = _json_or_none(response)
        if response.status_code >= 400:
            raise _statement_error(statement, response)
        if not isinstance(body, list):
            raise KsqlStatementError(
                statement, response.status_code, f"unexpected response: {response.text[:500]}"
            )
        return [entity for entity in body if isinstance(entity, dict)]


def _aggregate_state(query: Mapping[str, Any]) -> str:
    """``QueryStatusCount.getAggregateStatus``: ERROR when any count is ERROR, else RUNNING."""
    counts = query.get("statusCount") or {}
    return "ERROR" if isinstance(counts, dict) and counts.get("ERROR") else "RUNNING"


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _statement_error(statement: str, response: httpx.Response) -> KsqlStatementError:
    body = _json_or_none(response)
    if isinstance(body, dict) and body.get("message"):
        error_code = body.get("error_code")
        return KsqlStatementError(
            statement,
            response.status_code,
            str(body["message"]),
            error_code if isinstance(error_code, int) else None,
        )
    return KsqlStatementError(statement, response.status_code, response.text[:2000] or "(empty)")
