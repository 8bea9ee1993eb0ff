"""Docker-backed backends (testcontainers), used where a Docker daemon answers.

Not exercised on the development machine, which has no Docker engine; the GitHub Actions
workflow runs them. Images come from compose.yaml so both run the same versions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedded.kafka_broker import free_port
from tests.support.compose_env import REPO_ROOT, load_compose
from tests.support.images import compose_image

KAFKA_NETWORK_ALIAS = "kafka"
KAFKA_INTERNAL_PORT = 19092
CLICKHOUSE_HTTP_PORT = 8123
READY_TIMEOUT_S = 120.0


@dataclass
class KafkaContainerHandle:
    """A Kafka container; stop()/start() pause and resume it so the host port stays the same."""

    container: Any
    bootstrap: str
    internal_bootstrap: str

    def stop(self) -> None:
        self.container.get_wrapped_container().pause()

    def start(self) -> None:
        self.container.get_wrapped_container().unpause()


@contextmanager
def kafka_container(network: Any) -> Iterator[KafkaContainerHandle]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    host_port = free_port()
    container = (
        DockerContainer(compose_image("kafka"))
        .with_network(network)
        .with_network_aliases(KAFKA_NETWORK_ALIAS)
        .with_bind_ports(9092, host_port)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env(
            "KAFKA_LISTENERS",
            f"HOST://0.0.0.0:9092,INTERNAL://0.0.0.0:{KAFKA_INTERNAL_PORT},CONTROLLER://localhost:9093",
        )
        .with_env(
            "KAFKA_ADVERTISED_LISTENERS",
            f"HOST://127.0.0.1:{host_port},INTERNAL://{KAFKA_NETWORK_ALIAS}:{KAFKA_INTERNAL_PORT}",
        )
        .with_env(
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
            "HOST:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
        )
        .with_env("KAFKA_INTER_BROKER_LISTENER_NAME", "INTERNAL")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
    )
    container.start()
    try:
        wait_for_logs(container, "Kafka Server started", timeout=READY_TIMEOUT_S)
        yield KafkaContainerHandle(
            container=container,
            bootstrap=f"127.0.0.1:{host_port}",
            internal_bootstrap=f"{KAFKA_NETWORK_ALIAS}:{KAFKA_INTERNAL_PORT}",
        )
    finally:
        container.stop()


def compose_environment(service: str) -> dict[str, str]:
    """A service's environment from compose.yaml with every variable at its default."""
    environment = load_compose()["services"][service].get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {str(key): str(value) for key, value in environment.items()}


def compose_mounts(service: str) -> list[tuple[Path, str]]:
    """Bind mounts (host path, container path) of a compose service, relative to the repo."""
    mounts: list[tuple[Path, str]] = []
    for volume in load_compose()["services"][service].get("volumes") or []:
        source, target = (
            (volume.get("source"), volume.get("target"))
            if isinstance(volume, dict)
            else str(volume).split(":")[:2]
        )
        if source and str(source).startswith("."):
            mounts.append(((REPO_ROOT / str(source)).resolve(), str(target)))
    return mounts


@contextmanager
def clickhouse_container(
    network: Any, kafka_internal_bootstrap: str
) -> Iterator[tuple[Any, dict[str, str]]]:
    """ClickHouse server with the compose mounts and environment, reading the test broker.

    Yields the client and the server's environment (the Kafka group names come from it).
    """
    from testcontainers.core.container import DockerContainer

    environment = compose_environment("clickhouse")
    for key in list(environment):
        if "KAFKA" in key and ("BROKER" in key or "BOOTSTRAP" in key):
            environment[key] = kafka_internal_bootstrap
    container = DockerContainer(compose_image("clickhouse")).with_network(network)
    container = container.with_exposed_ports(CLICKHOUSE_HTTP_PORT)
    for key, value in environment.items():
        container = container.with_env(key, value)
    for source, target in compose_mounts("clickhouse"):
        container = container.with_volume_mapping(str(source), target, "ro")
    container.start()
    try:
        yield _await_clickhouse(container, environment), environment
    finally:
        container.stop()


def _await_clickhouse(container: Any, environment: dict[str, str]) -> Any:
    import clickhouse_connect

    host = container.get_container_host_ip()
    port = int(container.get_exposed_port(CLICKHOUSE_HTTP_PORT))
    deadline = time.monotonic() + READY_TIMEOUT_S
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client = clickhouse_connect.get_client(
                host=host,
                port=port,
                username=environment.get("CLICKHOUSE_USER", "default"),
                password=environment.get("CLICKHOUSE_PASSWORD", ""),
            )
            client.command("SELECT 1")
            return client
        except Exception as error:
            last_error = error
            time.sleep(1.0)
    raise RuntimeError(
        f"ClickHouse container did not answer within {READY_TIMEOUT_S} s: {last_error}"
    )
