"""Which real backends the tests use, and how a missing one is reported.

Order for Kafka: ``KAFKA_BOOTSTRAP`` > a Kafka container (if a Docker daemon answers) > the
native broker from Maven jars. Order for ClickHouse: ``CLICKHOUSE_URL`` > a ClickHouse container
(if Docker answers) > chDB in-process. ``TEST_BACKENDS=native`` skips the Docker probe.
Under ``CI=true`` a backend that cannot be provided is a test error, never a skip.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def backend_preference() -> str:
    preference = os.environ.get("TEST_BACKENDS", "auto").strip().lower()
    if preference not in {"auto", "native", "docker"}:
        raise ValueError(f"TEST_BACKENDS must be auto, native or docker, not {preference!r}")
    return preference


def docker_available() -> bool:
    """True when a Docker daemon answers a ping (the docker CLI alone is not enough)."""
    if backend_preference() == "native":
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def backend_missing(what: str, remedy: str, cause: BaseException | None = None) -> NoReturn:
    """Fail under CI (a missing backend must not pass silently), skip with the remedy elsewhere."""
    detail = f": {cause}" if cause else ""
    message = f"{what} is not available{detail}. {remedy}"
    if running_in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)
