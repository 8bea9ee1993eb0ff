"""Backend-agnostic fixtures: every test is written once and runs on whichever real backend exists.

See tests/support/backends.py for the order in which backends are chosen, and the README's
"Test backends" section for how to point the suite at an existing Kafka or ClickHouse.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from embedded.clickhouse import (
    DEFAULT_GROUP_PREFIX,
    KafkaTable,
    collection_environment,
    create_topics,
    declared_kafka_tables,
    named_collections,
    open_embedded,
)
from producers.kafka_config import KafkaConnection
from tests.support.backends import backend_missing, docker_available
from tests.support.clickhouse_loader import project_databases, truncate_project_tables
from tests.support.kafka_feeder import KafkaFeeder
from tests.support.kafka_native import KafkaUnavailableError, NativeKafkaBroker

TESTS_DIR = Path(__file__).resolve().parent
ARTIFACTS_DIR = TESTS_DIR.parent / ".test-artifacts"

_SUITE_MARKERS = {"unit": "unit", "integration": "integration", "stack": "stack"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its folder (tests/unit, tests/integration, tests/stack)."""
    for item in items:
        relative = Path(str(item.fspath)).resolve().relative_to(TESTS_DIR)
        marker = _SUITE_MARKERS.get(relative.parts[0])
        if marker:
            item.add_marker(getattr(pytest.mark, marker))


# ---- names ---------------------------------------------------------------------------------
@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``unique_name("prefix")`` -> a topic or group name no other test (or run) uses."""
    test_id = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40].strip("-")

    def make(prefix: str) -> str:
        return f"{prefix}-{test_id}-{uuid.uuid4().hex[:8]}"

    return make


# ---- Kafka -------------------------------------------------------------------------------
class KafkaBroker(Protocol):
    """A broker tests can take away and give back (outage tests)."""

    @property
    def bootstrap(self) -> str: ...

    def stop(self) -> None: ...

    def start(self) -> None: ...


@dataclass
class ExternalKafkaBroker:
    """A broker given by ``KAFKA_BOOTSTRAP``: the suite does not own it, so cannot stop it."""

    bootstrap: str
    kind: str = "external"

    def stop(self) -> None:
        pytest.skip("KAFKA_BOOTSTRAP points at an external broker that the tests cannot stop")

    def start(self) -> None:
        pytest.skip("KAFKA_BOOTSTRAP points at an external broker that the tests cannot start")


@pytest.fixture(scope="session")
def docker_network() -> Iterator[Any]:
    from testcontainers.core.network import Network

    with Network() as network:
        yield network


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The session's real Kafka broker (external, container or native), with stop()/start()."""
    external = os.environ.get("KAFKA_BOOTSTRAP")
    if external:
        yield ExternalKafkaBroker(external)
        return
    if docker_available():
        from tests.support.containers import kafka_container

        network = request.getfixturevalue("docker_network")
        with kafka_container(network) as handle:
            yield handle
        return
    workdir = Path(tempfile.mkdtemp(prefix="kafka-native-"))
    broker = NativeKafkaBroker(workdir)
    try:
        broker.start()
    except KafkaUnavailableError as error:
        _keep_artifact(workdir / "broker.log", "kafka-broker-failed.log")
        shutil.rmtree(workdir, ignore_errors=True)
        backend_missing(
            "a Kafka broker",
            "Install Java 17+ and Maven (the native broker is built from Maven Central jars), "
            "start Docker, or set KAFKA_BOOTSTRAP=host:port.",
            error,
        )
    try:
        yield broker
    finally:
        broker.stop()
        if request.session.testsfailed:
            _keep_artifact(broker.log_path, "kafka-broker.log")
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture
def running_kafka_broker(kafka_broker: KafkaBroker) -> Iterator[KafkaBroker]:
    """The broker, guaranteed running again after the test even if the test stopped it."""
    yield kafka_broker
    kafka_broker.start()


def _keep_artifact(path: Path, name: str) -> None:
    if path.exists():
        ARTIFACTS_DIR.mkdir(exist_ok=True)
        shutil.copyfile(path, ARTIFACTS_DIR / name)


# ---- ClickHouse ----------------------------------------------------------------------------
@dataclass
class ClickHouseBackend:
    client: Any
    kind: str  # "chdb", "container" or "url"
    kafka_tables: dict[str, KafkaTable]
    databases: list[str]
    group_prefix: str


@pytest.fixture(scope="session")
def kafka_group_prefix() -> str:
    """Consumer groups of this session's Kafka tables: never a stack's own groups."""
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def clickhouse_backend(
    request: pytest.FixtureRequest, kafka_group_prefix: str
) -> Iterator[ClickHouseBackend]:
    """One ClickHouse engine per session with clickhouse/init applied, its Kafka tables reading
    the session's broker through ClickHouse's real Kafka engine."""
    import clickhouse_connect

    databases = project_databases()
    url = os.environ.get("CLICKHOUSE_URL")
    if url:
        client = clickhouse_connect.get_client(dsn=url)
        prefix = os.environ.get("CLICKHOUSE_KAFKA_GROUP_PREFIX", DEFAULT_GROUP_PREFIX)
        tables = declared_kafka_tables(named_collections(collection_environment("", prefix)))
        yield ClickHouseBackend(client, "url", tables, databases, prefix)
        return
    kafka = request.getfixturevalue("kafka_broker")
    connection = KafkaConnection(kafka.bootstrap)
    if docker_available():
        from tests.support.containers import clickhouse_container

        network = request.getfixturevalue("docker_network")
        internal = getattr(kafka, "internal_bootstrap", kafka.bootstrap)
        tables = declared_kafka_tables(
            named_collections(collection_environment(internal, kafka_group_prefix))
        )
        # Topics first: a Kafka table that starts before its topic exists only notices it at
        # the next metadata refresh, minutes later.
        asyncio.run(create_topics(connection, [t for k in tables.values() for t in k.topics]))
        with clickhouse_container(network, internal) as (client, environment):
            resolved = declared_kafka_tables(named_collections(environment))
            yield ClickHouseBackend(client, "container", resolved, databases, kafka_group_prefix)
        return
    try:
        import chdb  # noqa: F401 - proves the engine is installed before we open a data path
    except ImportError as error:
        backend_missing(
            "the ClickHouse engine",
            "Install the test extras (make install) for chDB, start Docker, or set CLICKHOUSE_URL.",
            error,
        )
    data_path = Path(tempfile.mkdtemp(prefix="chdb-"))
    engine = open_embedded(data_path, connection, group_prefix=kafka_group_prefix)
    try:
        yield ClickHouseBackend(
            engine.client, "chdb", engine.kafka_tables, databases, kafka_group_prefix
        )
    finally:
        engine.close()
        shutil.rmtree(data_path, ignore_errors=True)


@pytest.fixture
def clickhouse(clickhouse_backend: ClickHouseBackend) -> Any:
    """A client on the project's schema, with every stored table emptied before the test."""
    truncate_project_tables(clickhouse_backend.client, clickhouse_backend.databases)
    return clickhouse_backend.client


@pytest.fixture
def kafka_feeder(
    clickhouse: Any, clickhouse_backend: ClickHouseBackend, kafka_bootstrap: str
) -> KafkaFeeder:
    """Produces to the Kafka tables' topics and waits until ClickHouse consumed the records."""
    return KafkaFeeder(
        clickhouse, dict(clickhouse_backend.kafka_tables), KafkaConnection(kafka_bootstrap)
    )
