"""Apply the statements of ``ksqldb/`` to a ksqlDB server: ordered, idempotent, loud on errors.

Run as ``coins-ksql-apply`` (the ``ksqldb-init`` compose job). It waits for ``/healthcheck``,
waits for the source topics the statements read, then sends each statement on its own in file
order with ``auto.offset.reset = earliest`` (so the windows include ticks published before the
queries existed). A statement whose object already exists counts as applied; any other refusal
stops the run with the server's error text and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from provisioning.ksqldb_client import (
    Deadline,
    KsqlClient,
    KsqlError,
    KsqlStatementError,
)
from provisioning.ksqldb_statements import KsqlStatement, load_statements

LOG = logging.getLogger("coins.ksqldb")

QUERY_PROPERTIES = {"ksql.streams.auto.offset.reset": "earliest"}


class KsqlApplierSettings(BaseSettings):
    """Environment (``KSQLDB_*``) or ``.env`` settings of the applier."""

    model_config = SettingsConfigDict(env_prefix="KSQLDB_", env_file=".env", extra="ignore")

    url: str = Field(default="http://localhost:8088", description="ksqlDB REST endpoint")
    statements_dir: Path = Field(default=Path("ksqldb"), description="folder of *.sql files")
    timeout_s: float = Field(default=300.0, gt=0, description="deadline for the whole run")
    request_timeout_s: float = Field(default=30.0, gt=0, description="one HTTP request")
    username: str | None = Field(default=None, description="basic auth (managed ksqlDB)")
    password: SecretStr | None = Field(default=None, description="basic auth secret")


class Outcome(Enum):
    CREATED = "created"
    ALREADY_EXISTED = "already existed"


@dataclass(frozen=True)
class Applied:
    statement: KsqlStatement
    outcome: Outcome
    message: str


def apply_statements(
    client: KsqlClient,
    statements: Sequence[KsqlStatement],
    deadline: Deadline,
) -> list[Applied]:
    """Send every statement in order; stop at the first one the server refuses."""
    client.wait_until_healthy(deadline)
    applied: list[Applied] = []
    last_command: int | None = None
    for statement in statements:
        topic = statement.source_topic
        if topic is not None:
            LOG.info("%s: waiting for topic %s", statement.location, topic)
            client.wait_for_topic(topic, deadline)
        try:
            result = client.execute(
                statement.text,
                properties=QUERY_PROPERTIES,
                deadline=deadline,
                after_command=last_command,
            )
        except KsqlStatementError as error:
            if not error.already_exists:
                raise KsqlStatementError(
                    f"{statement.location}: {statement.text}",
                    error.status_code,
                    error.server_message,
                    error.error_code,
                ) from error
            applied.append(Applied(statement, Outcome.ALREADY_EXISTED, error.server_message))
            LOG.info("%s: already exists (%s)", statement.location, error.server_message)
            continue
        if result.command_sequence_number is not None:
            last_command = result.command_sequence_number
        outcome = Outcome.ALREADY_EXISTED if result.already_existed else Outcome.CREATED
        applied.append(Applied(statement, outcome, result.message))
        LOG.info("%s: %s (%s)", statement.location, outcome.value, result.message)
    return applied


def build_http_client(settings: KsqlApplierSettings) -> httpx.Client:
    auth: httpx.BasicAuth | None = None
    if settings.username and settings.password is not None:
        auth = httpx.BasicAuth(settings.username, settings.password.get_secret_value())
    return httpx.Client(
        base_url=settings.url,
        auth=auth,
        timeout=httpx.Timeout(settings.request_timeout_s, connect=5.0),
    )


def run(
    settings: KsqlApplierSettings,
    *,
    http_factory: Callable[[KsqlApplierSettings], httpx.Client] | None = None,
    client_factory: Callable[[httpx.Client], KsqlClient] = KsqlClient,
) -> list[Applied]:
    """Load the files, then apply them within ``settings.timeout_s``."""
    statements = load_statements(settings.statements_dir)
    LOG.info(
        "applying %d statements from %s to %s",
        len(statements),
        settings.statements_dir,
        settings.url,
    )
    with (http_factory or build_http_client)(settings) as http:
        return apply_statements(
            client_factory(http), statements, Deadline.after(settings.timeout_s)
        )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="coins-ksql-apply",
        description="Apply ksqldb/*.sql to a ksqlDB server (ordered, idempotent).",
    )
    parser.add_argument("--url", help="ksqlDB REST endpoint (env KSQLDB_URL)")
    parser.add_argument("--dir", type=Path, help="statements folder (env KSQLDB_STATEMENTS_DIR)")
    parser.add_argument("--timeout", type=float, help="deadline in seconds (env KSQLDB_TIMEOUT_S)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    args = _parse_args(argv)
    overrides: dict[str, object] = {}
    if args.url:
        overrides["url"] = args.url
    if args.dir:
        overrides["statements_dir"] = args.dir
    if args.timeout:
        overrides["timeout_s"] = args.timeout
    try:
        settings = KsqlApplierSettings(**overrides)  # type: ignore[arg-type]
        applied = run(settings)
    except (KsqlError, OSError, ValueError) as error:
        LOG.error("ksqlDB statements not applied: %s", error)
        return 1
    created = sum(1 for item in applied if item.outcome is Outcome.CREATED)
    LOG.info("done: %d created, %d already existed", created, len(applied) - created)
    return 0


if __name__ == "__main__":
    sys.exit(main())
