"""A fake ksqlDB REST server for the applier's tests (an ``httpx.MockTransport`` handler).

It answers the calls the applier makes the way ksqlDB 0.29 / Confluent Platform 8 does:
``GET /healthcheck`` (``{"isHealthy": ...}``, 503 while starting), ``POST /ksql`` (an array of
entities; ``statement_error`` with ``error_code`` 40001 and HTTP 400 when a statement is refused),
``GET /status/<commandId>``. Faults are programmable per test.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from provisioning.ksqldb_client import KSQL_MEDIA_TYPE

_CREATE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?P<kind>STREAM|TABLE)\s+(?P<if_not_exists>IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>\w+)",
    re.IGNORECASE,
)


@dataclass
class FakeKsqlServer:
    """State of the fake server; ``transport`` plugs it into an ``httpx.Client``."""

    unhealthy_answers: int = 0
    healthcheck_errors: int = 0
    topics: set[str] = field(default_factory=set)
    topic_appears_after_polls: dict[str, int] = field(default_factory=dict)
    objects: dict[str, str] = field(default_factory=dict)
    reject: dict[str, tuple[int, str]] = field(default_factory=dict)
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

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/healthcheck":
            return self._healthcheck()
        if path == "/ksql" and request.method == "POST":
            return self._ksql(json.loads(request.content))
        if path.startswith("/status/"):
            return self._status(path.removeprefix("/status/"))
        return httpx.Response(404, json={"message": f"no route {path}"})

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
        return httpx.Response(200, json={"isHealthy": True, "details": {}})

    def _ksql(self, payload: dict[str, Any]) -> httpx.Response:
        self.ksql_payloads.append(payload)
        statement: str = payload["ksql"]
        if statement.strip().upper().startswith("SHOW TOPICS"):
            return self._show_topics(statement)
        for fragment, (status, message) in self.reject.items():
            if fragment in statement:
                return _error(status, message, statement)
        match = _CREATE.match(statement)
        if not match:
            return _error(400, f"line 1:1: mismatched input '{statement[:10]}'", statement)
        kind = match.group("kind").upper()
        name = match.group("name").upper()
        if name in self.objects:
            message = (
                f"Cannot add {kind.lower()} '{name}': A {kind.lower()} with the same name "
                "already exists"
            )
            if match.group("if_not_exists"):
                return httpx.Response(
                    200,
                    json=[
                        {
                            "@type": "warning_entity",
                            "statementText": statement,
                            "message": message,
                            "warnings": [],
                        }
                    ],
                    headers={"Content-Type": KSQL_MEDIA_TYPE},
                )
            return _error(400, message, statement)
        self.objects[name] = statement
        self.sequence += 1
        command_id = f"{kind.lower()}/`{name}`/create"
        state = "QUEUED" if self.pending_status_polls else self.final_command_state
        return httpx.Response(
            200,
            json=[
                {
                    "@type": "currentStatus",
                    "statementText": statement,
                    "commandId": command_id,
                    "commandStatus": {"status": state, "message": f"Created {kind.lower()}"},
                    "commandSequenceNumber": self.sequence,
                    "warnings": [],
                }
            ],
            headers={"Content-Type": KSQL_MEDIA_TYPE},
        )

    def _show_topics(self, statement: str) -> httpx.Response:
        self._topic_polls += 1
        for topic, polls in list(self.topic_appears_after_polls.items()):
            if self._topic_polls > polls:
                self.topics.add(topic)
        return httpx.Response(
            200,
            json=[
                {
                    "@type": "kafka_topics",
                    "statementText": statement,
                    "topics": [{"name": name, "replicaInfo": [1]} for name in sorted(self.topics)],
                    "warnings": [],
                }
            ],
        )

    def _status(self, command_id: str) -> httpx.Response:
        polls = self._status_polls.get(command_id, 0) + 1
        self._status_polls[command_id] = polls
        if polls <= self.pending_status_polls:
            return httpx.Response(200, json={"status": "EXECUTING", "message": "running"})
        message = "done" if self.final_command_state == "SUCCESS" else "Could not build query"
        return httpx.Response(200, json={"status": self.final_command_state, "message": message})

    # ---- helpers for assertions ---------------------------------------------------------
    def executed_statements(self) -> list[str]:
        return [
            payload["ksql"]
            for payload in self.ksql_payloads
            if not payload["ksql"].upper().startswith("SHOW TOPICS")
        ]


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
