"""Docker-backed backends (testcontainers): start this container with these settings, no more.

Used where Docker answers (a laptop, the GitHub workflow's Docker job); never started on the
development machine, which has no Docker engine. Everything that decides something (which
address to publish on, what to advertise, which environment, what a lifecycle call must do) is a
plain function below, unit-tested without Docker; feeding, waiting and assertions are shared with
the native path. Images come from compose.yaml so the tests and the stack run the same versions.

testcontainers-python 4.15 behaviour this relies on (core/testcontainers/core/container.py):
``DockerContainer.start`` creates then starts the container and ``stop`` removes it with its
anonymous volumes (``remove(force=True, v=True)``); ``get_container_host_ip`` is the address the
tests reach containers on, which depends on the connection mode (``docker_host``: the daemon's
host from ``tc.host``, ``DOCKER_HOST`` or the docker context; ``gateway_ip``/``bridge_ip`` when
the tests themselves run in a container); ``get_exposed_port`` is the mapped port in every mode
but ``bridge_ip``.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from embedded.kafka_broker import await_kafka, free_port
from tests.support.backends import host_port_binding_address, is_loopback, session_group_prefix
from tests.support.compose_env import REPO_ROOT, load_compose
from tests.support.images import compose_image

KAFKA_NETWORK_ALIAS = "kafka"
KAFKA_HOST_LISTENER_PORT = 9092
KAFKA_INTERNAL_PORT = 19092
KAFKA_CONTROLLER_PORT = 9093
# The broker waits for this file, written once the container runs and testcontainers can say
# which address and port reach it (testcontainers' own KafkaContainer does the same with its
# /tc-start.sh, community/kafka/__init__.py: ``tc_start``). It stays in the container's
# filesystem, so a stop/start advertises the same listener again.
KAFKA_LISTENERS_FILE = "/tmp/advertised-listeners"
CLICKHOUSE_HTTP_PORT = 8123
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30
START_ATTEMPTS = 3
LOG_TAIL_LINES = 80

Ready = TypeVar("Ready")
LifecycleAction = Literal["start", "stop", "none"]


class ContainerFailedError(RuntimeError):
    """A test container did not start or answer; the message holds its state and log tail."""


# ---- decisions (plain functions, unit-tested) ------------------------------------------------
def lifecycle_action(status: str, wanted: Literal["running", "stopped"]) -> LifecycleAction:
    """What to do to a container in Docker state ``status`` so that it ends ``wanted``.

    stop()/start() are idempotent: the outage tests stop and start the broker themselves and
    the fixture starts it again after every test. Docker refuses some of these calls on a
    container already in the target state (moby answers 304 or "is not paused"), so we decide
    from the state instead of calling blindly.
    """
    running = status in {"running", "restarting", "paused"}
    if wanted == "running":
        return "none" if status == "running" else "start"
    return "stop" if running else "none"


def is_port_conflict(error: BaseException) -> bool:
    """A start that failed because another process took the host port meanwhile."""
    text = str(error).lower()
    return "port is already allocated" in text or "address already in use" in text


def url_host(host: str) -> str:
    """``host`` as it goes in ``host:port`` (IPv6 addresses in brackets)."""
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host.strip("[]")).version == 6:
            return f"[{host.strip('[]')}]"
    return host


def reachable_host(container_host_ip: str, binding_address: str) -> str:
    """The address tests and advertised listeners use for a published port.

    testcontainers' ``get_container_host_ip`` (often "localhost"); when the port is published on
    127.0.0.1 only, that exact address, so that a client resolving "localhost" to ::1 first
    does not knock on an interface nothing listens on.
    """
    if binding_address == "127.0.0.1" and is_loopback(container_host_ip):
        return "127.0.0.1"
    return container_host_ip


def kafka_environment() -> dict[str, str]:
    """The broker's settings: one KRaft node with a HOST listener (published to the tests) and
    an INTERNAL one (the ClickHouse container, on the session's Docker network)."""
    return {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": f"1@localhost:{KAFKA_CONTROLLER_PORT}",
        "KAFKA_LISTENERS": (
            f"HOST://0.0.0.0:{KAFKA_HOST_LISTENER_PORT},"
            f"INTERNAL://0.0.0.0:{KAFKA_INTERNAL_PORT},"
            f"CONTROLLER://localhost:{KAFKA_CONTROLLER_PORT}"
        ),
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
            "HOST:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
        ),
        "KAFKA_INTER_BROKER_LISTENER_NAME": "INTERNAL",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        # The image's VOLUME: survives a stop/start, removed with the container.
        "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
    }


def kafka_advertised_listeners(host: str, port: int) -> str:
    return f"HOST://{url_host(host)}:{port},INTERNAL://{KAFKA_NETWORK_ALIAS}:{KAFKA_INTERNAL_PORT}"


def kafka_command() -> list[str]:
    """Wait for the listeners file, then run the image's own start script with it.

    apache/kafka's ``/etc/kafka/docker/run`` exports each ``NAME=value`` argument before it
    configures and launches the broker (docker/resources/common-scripts/run); its ``launch``
    formats the KRaft storage unless already formatted, so a restart keeps the data
    (docker/jvm/launch). ``exec`` keeps the broker PID 1, so ``docker stop`` stops it cleanly.
    """
    script = (
        f"while [ ! -s {KAFKA_LISTENERS_FILE} ]; do sleep 0.1; done; "
        f'exec /etc/kafka/docker/run "KAFKA_ADVERTISED_LISTENERS=$(cat {KAFKA_LISTENERS_FILE})"'
    )
    return ["sh", "-c", script]


def clickhouse_environment(
    kafka_internal_bootstrap: str, group_prefix: str | None = None
) -> dict[str, str]:
    """compose.yaml's ClickHouse environment, reading the session's broker with the session's
    own consumer groups (compose derives every group from ``CLICKHOUSE_KAFKA_GROUP_PREFIX``)."""
    prefix = group_prefix or session_group_prefix()
    environment = compose_environment("clickhouse", {"CLICKHOUSE_KAFKA_GROUP_PREFIX": prefix})
    environment["CLICKHOUSE_KAFKA_BROKER_LIST"] = kafka_internal_bootstrap
    return environment


def selinux_enforced(daemon_info: Mapping[str, Any]) -> bool:
    """Whether the daemon labels containers with SELinux (``docker info`` SecurityOptions)."""
    return any("name=selinux" in str(option) for option in daemon_info.get("SecurityOptions") or [])


def bind_mount_mode(selinux: bool) -> str:
    """Read-only; on SELinux hosts also ``z`` (shared label) or the container cannot read it."""
    return "ro,z" if selinux else "ro"


def describe_failure(attrs: Mapping[str, Any], logs: str) -> str:
    """A failed container's state and log tail, for the error message."""
    state = attrs.get("State") or {}
    summary = ", ".join(
        f"{key}={state[key]}"
        for key in ("Status", "ExitCode", "OOMKilled", "Error")
        if key in state and state[key] not in ("", None)
    )
    tail = "\n".join(logs.splitlines()[-LOG_TAIL_LINES:]) or "(no output)"
    return f"container state: {summary or 'unknown'}\nlast log lines:\n{tail}"


def compose_environment(service: str, variables: Mapping[str, str] | None = None) -> dict[str, str]:
    """A service's environment from compose.yaml, interpolated with ``variables`` (defaults
    for every variable not given)."""
    environment = load_compose(variables)["services"][service].get("environment") or {}
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


# ---- Docker calls ------------------------------------------------------------------------------
def _binding_address(container: Any) -> str:
    client = container.get_docker_client()
    return host_port_binding_address(client.get_connection_mode().value, client.host())


def _failure_report(container: Any) -> str:
    try:
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        logs = wrapped.logs(tail=LOG_TAIL_LINES).decode(errors="replace")
        return describe_failure(wrapped.attrs, logs)
    except Exception as error:
        return f"(no container state or logs: {error})"


def start_container(container: Any, what: str, ready: Callable[[], Ready]) -> Ready:
    """Start ``container`` and wait for ``ready``; on any failure remove it (no leak) and raise
    with its state and log tail."""
    try:
        container.start()
        return ready()
    except Exception as error:
        report = _failure_report(container)
        with contextlib.suppress(Exception):
            container.stop()
        raise ContainerFailedError(f"{what} failed: {error}\n{report}") from error


@dataclass
class KafkaContainerHandle:
    """The session's Kafka container; stop()/start() really stop and start it (same port, same
    data), and both do nothing when it is already in that state."""

    container: Any
    bootstrap: str
    internal_bootstrap: str
    kind: str = "container"

    def _wrapped(self) -> Any:
        wrapped = self.container.get_wrapped_container()
        wrapped.reload()
        return wrapped

    def stop(self) -> None:
        wrapped = self._wrapped()
        if lifecycle_action(wrapped.status, "stopped") == "stop":
            wrapped.stop(timeout=STOP_TIMEOUT_S)

    def start(self) -> None:
        wrapped = self._wrapped()
        if lifecycle_action(wrapped.status, "running") == "start":
            wrapped.start()
        await_kafka(self.bootstrap, READY_TIMEOUT_S, alive=self._running)

    def _running(self) -> bool:
        return bool(self._wrapped().status == "running")


def new_kafka_container(network: Any, host_port: int) -> Any:
    """The Kafka container, configured and not started."""
    from testcontainers.core.container import DockerContainer

    container: Any = (
        DockerContainer(compose_image("kafka"))
        .with_network(network)
        .with_network_aliases(KAFKA_NETWORK_ALIAS)
        .with_envs(**kafka_environment())
        .with_command(kafka_command())
    )
    # A fixed host port: Docker gives a random one anew at every start, and the broker
    # advertises its port, so it must survive the outage tests' stop/start.
    container.ports[str(KAFKA_HOST_LISTENER_PORT)] = (_binding_address(container), host_port)
    return container


def advertise(container: Any, binding_address: str) -> str:
    """Write the listeners file (the broker starts on it) and return the host bootstrap."""
    import io
    import tarfile

    host = reachable_host(container.get_container_host_ip(), binding_address)
    port = int(container.get_exposed_port(KAFKA_HOST_LISTENER_PORT))
    content = kafka_advertised_listeners(host, port).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo(KAFKA_LISTENERS_FILE.lstrip("/"))
        info.size, info.mtime, info.mode = len(content), int(time.time()), 0o644
        tar.addfile(info, io.BytesIO(content))
    container.get_wrapped_container().put_archive("/", archive.getvalue())
    return f"{url_host(host)}:{port}"


def _ready_kafka(container: Any, binding: str) -> KafkaContainerHandle:
    handle = KafkaContainerHandle(
        container=container,
        bootstrap=advertise(container, binding),
        internal_bootstrap=f"{KAFKA_NETWORK_ALIAS}:{KAFKA_INTERNAL_PORT}",
    )
    handle.start()  # already running: only waits until the broker answers
    return handle


def _start_kafka(network: Any) -> KafkaContainerHandle:
    for attempt in range(1, START_ATTEMPTS + 1):
        container = new_kafka_container(network, free_port())
        binding = container.ports[str(KAFKA_HOST_LISTENER_PORT)][0]
        try:
            return start_container(
                container,
                "the Kafka container",
                functools.partial(_ready_kafka, container, binding),
            )
        except ContainerFailedError as error:
            # The port was free when chosen; another process may have bound it since.
            if attempt == START_ATTEMPTS or not is_port_conflict(error):
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


@contextmanager
def kafka_container(network: Any) -> Iterator[KafkaContainerHandle]:
    handle = _start_kafka(network)
    try:
        yield handle
    finally:
        handle.container.stop()


def new_clickhouse_container(network: Any, environment: Mapping[str, str]) -> Any:
    """The ClickHouse container, configured and not started."""
    from testcontainers.core.container import DockerContainer

    container: Any = DockerContainer(compose_image("clickhouse")).with_network(network)
    container = container.with_envs(**environment)
    container.ports[str(CLICKHOUSE_HTTP_PORT)] = (_binding_address(container), None)
    mode = bind_mount_mode(selinux_enforced(container.get_docker_client().client.info()))
    for source, target in compose_mounts("clickhouse"):
        container = container.with_volume_mapping(str(source), target, mode)
    return container


@contextmanager
def clickhouse_container(
    network: Any, kafka_internal_bootstrap: str, group_prefix: str | None = None
) -> Iterator[tuple[Any, dict[str, str]]]:
    """ClickHouse server with the compose mounts and environment, reading the session's broker
    with the session's consumer groups.

    Yields the client and the server's environment (the Kafka group names come from it).
    """
    environment = clickhouse_environment(kafka_internal_bootstrap, group_prefix)
    container = new_clickhouse_container(network, environment)
    binding = container.ports[str(CLICKHOUSE_HTTP_PORT)][0]

    def ready() -> Any:
        return _await_clickhouse(container, environment, binding)

    client = start_container(container, "the ClickHouse container", ready)
    try:
        yield client, environment
    finally:
        container.stop()


def _await_clickhouse(container: Any, environment: dict[str, str], binding: str) -> Any:
    import clickhouse_connect

    host = reachable_host(container.get_container_host_ip(), binding)
    port = int(container.get_exposed_port(CLICKHOUSE_HTTP_PORT))
    deadline = time.monotonic() + READY_TIMEOUT_S
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if container.get_wrapped_container().status in {"exited", "dead"}:
            raise RuntimeError("the container exited (clickhouse/init stops it on a failed file)")
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
            container.get_wrapped_container().reload()
    raise TimeoutError(
        f"ClickHouse did not answer on {url_host(host)}:{port} within {READY_TIMEOUT_S:.0f} s "
        f"(last error: {last_error})"
    )
