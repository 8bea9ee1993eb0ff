"""Which real backends the tests use, and how a missing one is reported.

Order for Kafka: ``KAFKA_BOOTSTRAP`` > a Kafka container (if Docker answers) > the native broker
from Maven jars. Order for ClickHouse: ``CLICKHOUSE_URL`` > a ClickHouse container, only next to
a Kafka container of the same session > chDB in-process. ``TEST_BACKENDS=native`` never asks
Docker; ``TEST_BACKENDS=docker`` requires it (an error, never a fallback, when it does not answer).
Under ``CI=true`` a backend that cannot be provided is a test error, never a skip.

Every decision here is a plain function of the environment and of one Docker probe per session,
so the unit tests check it on a machine without Docker.
"""

from __future__ import annotations

import functools
import os
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, NoReturn

import pytest

KafkaKind = Literal["external", "container", "native"]
ClickHouseKind = Literal["url", "container", "chdb"]

DOCKER_PING_TIMEOUT_S = 5
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def backend_preference(environ: Mapping[str, str] = os.environ) -> str:
    preference = environ.get("TEST_BACKENDS", "auto").strip().lower()
    if preference not in {"auto", "native", "docker"}:
        raise ValueError(f"TEST_BACKENDS must be auto, native or docker, not {preference!r}")
    return preference


@dataclass(frozen=True)
class DockerProbe:
    """What the one Docker probe of the session found."""

    answered: bool
    detail: str


@functools.cache
def probe_docker() -> DockerProbe:
    """Ping the daemon testcontainers itself would use, once per session (the result is kept).

    testcontainers' ``DockerClient`` finds the daemon through ``tc.host`` in
    ~/.testcontainers.properties, then ``DOCKER_HOST``, then the current docker context
    (testcontainers-python 4.15, core/testcontainers/core/docker_client.py: ``get_docker_host``,
    ``_get_docker_host_from_context``); a bare ``docker.from_env()`` reads only ``DOCKER_HOST``
    and so says "no Docker" on Colima, Rancher Desktop, rootless Docker or Podman set up through
    a context. Asking once keeps one flaky ping from mixing backends within a session.
    """
    try:
        from testcontainers.core.docker_client import DockerClient

        client = DockerClient(timeout=DOCKER_PING_TIMEOUT_S).client
        try:
            client.ping()
            return DockerProbe(True, f"Docker answers at {client.api.base_url}")
        finally:
            client.close()
    except Exception as error:
        return DockerProbe(False, f"{type(error).__name__}: {error}")


def docker_available(
    environ: Mapping[str, str] = os.environ, probe: Callable[[], DockerProbe] = probe_docker
) -> bool:
    """Whether the containers are used; ``TEST_BACKENDS=docker`` without Docker is an error."""
    preference = backend_preference(environ)
    if preference == "native":
        return False
    found = probe()
    if preference == "docker" and not found.answered:
        pytest.fail(
            "TEST_BACKENDS=docker but no Docker daemon answers "
            f"({found.detail}). Start Docker, or see docs/testing.md for Colima, rootless Docker "
            "and Podman.",
            pytrace=False,
        )
    return found.answered


def choose_kafka(environ: Mapping[str, str], docker: Callable[[], bool]) -> KafkaKind:
    """``KAFKA_BOOTSTRAP`` > a container (Docker asked only when needed) > the native broker."""
    if environ.get("KAFKA_BOOTSTRAP"):
        return "external"
    return "container" if docker() else "native"


def choose_clickhouse(environ: Mapping[str, str], kafka: KafkaKind) -> ClickHouseKind:
    """``CLICKHOUSE_URL`` > a container > chDB.

    A ClickHouse container is started only next to this session's Kafka container: the two share
    a Docker network, and the container's Kafka tables read that broker and nothing else. Next to
    an external broker (``KAFKA_BOOTSTRAP``) or the native one, ClickHouse is chDB in this
    process, which reaches either directly.
    """
    if environ.get("CLICKHOUSE_URL"):
        return "url"
    return "container" if kafka == "container" else "chdb"


def clickhouse_reads_session_broker(kafka: KafkaKind, clickhouse: ClickHouseKind) -> bool:
    """Whether the Kafka tables of ``clickhouse`` read the broker the tests produce to.

    A server given by ``CLICKHOUSE_URL`` reads the broker of its own configuration: the tests can
    only feed it through that broker, given as ``KAFKA_BOOTSTRAP``.
    """
    return clickhouse != "url" or kafka == "external"


def is_loopback(host: str) -> bool:
    return host.strip("[]").lower() in _LOOPBACK_HOSTS


def host_port_binding_address(connection_mode: str, docker_host: str) -> str:
    """Host interface a test container publishes its ports on.

    Loopback when the tests reach containers through the local host: testcontainers'
    ``docker_host`` connection mode with a loopback host (Docker Engine, Docker Desktop, Colima,
    rootless Docker and Podman all forward 127.0.0.1-bound ports). Every interface ("") when
    they are reached through another address: a remote ``DOCKER_HOST`` or ``tc.host``, or the
    ``gateway_ip``/``bridge_ip`` modes of tests that themselves run in a container
    (testcontainers-python 4.15, core/testcontainers/core/docker_client.py:
    ``get_connection_mode``, ``host``), which a loopback binding would hide.
    """
    return "127.0.0.1" if connection_mode == "docker_host" and is_loopback(docker_host) else ""


@functools.cache
def session_group_prefix() -> str:
    """A consumer-group prefix of this test session, so tests never join the stack's groups."""
    return f"test-{uuid.uuid4().hex[:8]}"


def backend_missing(what: str, remedy: str, cause: BaseException | None = None) -> NoReturn:
    """Fail under CI (a missing backend must not pass silently), skip with the remedy elsewhere."""
    detail = f": {cause}" if cause else ""
    message = f"{what} is not available{detail}. {remedy}"
    if running_in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def main() -> int:
    """``python -m tests.support.backends``: whether ``make test`` runs the stack session.

    Exit 0: Docker answers, run it; 1: not here (the reason is printed); 2: ``TEST_BACKENDS=docker``
    and no Docker answers, an error.
    """
    preference = backend_preference()
    if preference == "native":
        print("tests/stack: not run (TEST_BACKENDS=native)")
        return 1
    found = probe_docker()
    if found.answered:
        print(f"tests/stack: run after the main session ({found.detail})")
        return 0
    if preference == "docker":
        print(
            f"TEST_BACKENDS=docker but no Docker daemon answers ({found.detail})", file=sys.stderr
        )
        return 2
    print(
        f"tests/stack: not run, no Docker daemon answers ({found.detail}); "
        "the workflow's Docker job runs them"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
