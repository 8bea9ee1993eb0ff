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

from alerts.settings import AlertSettings
from embedded.clickhouse import (
    KafkaTable,
    create_topics,
    declared_kafka_tables,
    named_collections,
    open_embedded,
)
from embedded.kafka_broker import KafkaUnavailableError, NativeKafkaBroker
from producers.kafka.connection import KafkaConnection
from producers.kafka.topics import topic_defaults
from producers.settings import Settings
from tests.support.backends import (
    backend_missing,
    choose_clickhouse,
    choose_kafka,
    clickhouse_reads_session_broker,
    docker_available,
    session_group_prefix,
)
from tests.support.clickhouse_loader import project_databases, truncate_project_tables
from tests.support.kafka_feeder import KafkaFeeder

TESTS_DIR = Path(__file__).resolve().parent
ARTIFACTS_DIR = TESTS_DIR.parent / ".test-artifacts"

_SUITE_MARKERS = {"unit": "unit", "integration": "integration", "stack": "stack"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its folder (tests/unit, tests/integration, tests/stack), and run the
    tests that stop and restart the session's broker last.

    Measured in a fresh-clone CI run: after the session broker's restarts, one of chDB's Kafka
    tables (``kafka_coins_alerts``) had no partitions assigned for more than 120 s while the
    others were reassigned, so a later test that read through it timed out. Tests that take the
    broker away run after every test that needs all Kafka tables consuming.
    """
    for item in items:
        relative = Path(str(item.fspath)).resolve().relative_to(TESTS_DIR)
        marker = _SUITE_MARKERS.get(relative.parts[0])
        if marker:
            item.add_marker(getattr(pytest.mark, marker))
    items.sort(key=lambda item: "running_kafka_broker" in getattr(item, "fixturenames", ()))


# ---- names ---------------------------------------------------------------------------------
@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``unique_name("prefix")`` -> a topic or group name no other test (or run) uses."""
    test_id = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40].strip("-")

    def make(prefix: str) -> str:
        return f"{prefix}-{test_id}-{uuid.uuid4().hex[:8]}"

    return make


# ---- Metabase ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def definitions() -> Any:
    """The Metabase questions and dashboards defined in metabase/ (loaded once a session)."""
    from provisioning.metabase.definitions import load_definitions

    return load_definitions(TESTS_DIR.parent / "metabase")


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
        """Nothing to do: the suite never stopped it (stop() skips the test first)."""


@pytest.fixture(scope="session")
def docker_network() -> Iterator[Any]:
    from testcontainers.core.network import Network

    with Network() as network:
        yield network


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The session's real Kafka broker (external, container or native), with stop()/start()."""
    kind = choose_kafka(os.environ, docker_available)
    if kind == "external":
        yield ExternalKafkaBroker(os.environ["KAFKA_BOOTSTRAP"])
        return
    if kind == "container":
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


@pytest.fixture(scope="session")
def clickhouse_kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    """The broker as ClickHouse's Kafka tables reach it: a container's network alias, else the
    same address as ``kafka_bootstrap``."""
    return str(getattr(kafka_broker, "internal_bootstrap", kafka_broker.bootstrap))


@pytest.fixture
def running_kafka_broker(kafka_broker: KafkaBroker) -> Iterator[KafkaBroker]:
    """The broker, running again after the test whatever the test did (start() is idempotent)."""
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
    # False for a CLICKHOUSE_URL server next to a broker it does not read (no KAFKA_BOOTSTRAP).
    reads_session_broker: bool = True


@pytest.fixture(scope="session")
def clickhouse_backend(request: pytest.FixtureRequest) -> Iterator[ClickHouseBackend]:
    """One ClickHouse engine per session with clickhouse/init applied, its Kafka tables reading
    the session's broker through ClickHouse's real Kafka engine (chDB or a container)."""
    import clickhouse_connect

    databases = project_databases()
    kafka_kind = choose_kafka(os.environ, docker_available)
    kind = choose_clickhouse(os.environ, kafka_kind)
    if kind == "url":
        from tests.support.containers import compose_environment

        client = clickhouse_connect.get_client(dsn=os.environ["CLICKHOUSE_URL"])
        # The server's groups: compose's, with whatever this shell overrides (the same
        # variables the stack reads), never the raw ${...} of the named collection.
        server_environment = {**compose_environment("clickhouse", os.environ), **os.environ}
        tables = declared_kafka_tables(named_collections(server_environment))
        reads = clickhouse_reads_session_broker(kafka_kind, kind)
        yield ClickHouseBackend(client, "url", tables, databases, reads)
        return
    kafka = request.getfixturevalue("kafka_broker")
    connection = KafkaConnection(kafka.bootstrap)
    if kind == "container":
        from tests.support.containers import clickhouse_container, clickhouse_environment

        network = request.getfixturevalue("docker_network")
        internal = request.getfixturevalue("clickhouse_kafka_bootstrap")
        # Topics first: a Kafka table that starts before its topic exists only notices it at
        # the next metadata refresh, minutes later. The server's topics are compose's.
        declared = declared_kafka_tables(named_collections(clickhouse_environment(internal)))
        topics = [topic for table in declared.values() for topic in table.topics]
        asyncio.run(create_topics(connection, topics))
        with clickhouse_container(network, internal) as (client, environment):
            tables = declared_kafka_tables(named_collections(environment))
            yield ClickHouseBackend(client, "container", tables, databases)
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
    engine = open_embedded(
        data_path,
        connection,
        topics=topic_defaults(Settings, AlertSettings),
        group_prefix=session_group_prefix(),
    )
    try:
        yield ClickHouseBackend(engine.client, "chdb", engine.kafka_tables, databases)
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
    if not clickhouse_backend.reads_session_broker:
        pytest.fail(
            "CLICKHOUSE_URL is set without KAFKA_BOOTSTRAP: that server's Kafka tables read its "
            "own broker, not this session's. Set KAFKA_BOOTSTRAP to the broker it reads.",
            pytrace=False,
        )
    return KafkaFeeder(
        clickhouse, dict(clickhouse_backend.kafka_tables), KafkaConnection(kafka_bootstrap)
    )
