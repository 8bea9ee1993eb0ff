"""The Docker path's decisions, checked without Docker (no engine runs on this machine).

The containers themselves start only in the GitHub workflow's Docker job; everything that
decides how they start is a plain function, checked here: the probe (through testcontainers'
own client, once per session), the backend choice and the never-mix rule, the published
address, the advertised listener, idempotent stop/start, the start-failure report, and the
stack fixture's environment (.env.example, never the developer's shell or .env).
"""

from __future__ import annotations

import hashlib
import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.support import backends, containers
from tests.support.backends import DockerProbe
from tests.support.compose_env import ENV_EXAMPLE, env_example, load_compose

DEFAULT_GROUPS = {
    key: value
    for key, value in containers.compose_environment("clickhouse").items()
    if key.startswith("CLICKHOUSE_KAFKA_GROUP_")
}


# ---- the probe: testcontainers' client, once per session ---------------------------------------
class _FakeDaemonHandler(BaseHTTPRequestHandler):
    """Answers what a ping and a container's configuration ask: GET /version (API negotiation),
    GET /_ping and GET /info (``security_options`` set by the test)."""

    security_options: tuple[str, ...] = ("name=seccomp,profile=builtin",)

    def do_GET(self) -> None:
        if self.path.endswith("/version"):
            body = json.dumps({"ApiVersion": "1.44", "Version": "fake"}).encode()
        elif self.path.endswith("/info"):
            body = json.dumps({"SecurityOptions": list(self.security_options)}).encode()
        else:
            body = b"OK"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Api-Version", "1.44")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet (and the Unix-socket client address is empty, which the default cannot print)."""


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def fake_daemon(tmp_path: Path) -> Iterator[str]:
    """An HTTP server on a Unix socket that answers like a Docker daemon's ping."""
    path = tmp_path / "engine.sock"
    server = _UnixHTTPServer(str(path), _FakeDaemonHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"unix://{path}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fresh_probe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No cached probe, no DOCKER_HOST, an empty docker config, no tc.host."""
    from testcontainers.core.config import testcontainers_config

    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setattr(testcontainers_config, "tc_properties", {})
    backends.probe_docker.cache_clear()
    yield
    backends.probe_docker.cache_clear()


def _use_docker_context(config_dir: Path, name: str, host: str) -> None:
    """What `docker context create NAME --docker host=HOST && docker context use NAME` writes
    (the layout docker-py reads: docker/context/config.py)."""
    meta = config_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host}}})
    )
    (config_dir / "config.json").write_text(json.dumps({"currentContext": name}))


@pytest.mark.usefixtures("fresh_probe")
def test_probe_finds_a_daemon_known_only_through_the_docker_context(
    fake_daemon: str, tmp_path: Path
) -> None:
    # Colima, Rancher Desktop and rootless Docker set up a context rather than DOCKER_HOST.
    _use_docker_context(tmp_path / "docker-config", "colima", fake_daemon)
    found = backends.probe_docker()
    assert found == DockerProbe(True, found.detail)


@pytest.mark.usefixtures("fresh_probe")
def test_probe_finds_a_daemon_given_by_tc_host(
    fake_daemon: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from testcontainers.core.config import testcontainers_config

    monkeypatch.setattr(testcontainers_config, "tc_properties", {"tc.host": fake_daemon})
    assert backends.probe_docker().answered


@pytest.mark.usefixtures("fresh_probe")
def test_probe_reports_why_nothing_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'nothing-here.sock'}")
    found = backends.probe_docker()
    assert not found.answered
    assert found.detail


@pytest.mark.usefixtures("fresh_probe")
def test_probe_asks_the_daemon_once_per_session(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[int] = []

    class CountingClient:
        def __init__(self, **kwargs: Any) -> None:
            calls.append(1)
            raise ConnectionError("no daemon")

    monkeypatch.setattr("testcontainers.core.docker_client.DockerClient", CountingClient)
    first, second = backends.probe_docker(), backends.probe_docker()
    assert first is second
    assert calls == [1]


# ---- TEST_BACKENDS ------------------------------------------------------------------------------
def _probe_must_not_run() -> DockerProbe:
    raise AssertionError("Docker was probed")


def test_native_preference_does_not_call_the_probe() -> None:
    environ = {"TEST_BACKENDS": "native"}
    assert backends.docker_available(environ, _probe_must_not_run) is False


def test_docker_preference_without_docker_is_an_error_even_outside_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    environ = {"TEST_BACKENDS": "docker"}
    with pytest.raises(pytest.fail.Exception, match="TEST_BACKENDS=docker but no Docker daemon"):
        backends.docker_available(environ, lambda: DockerProbe(False, "refused"))


@pytest.mark.parametrize(("preference", "answered"), [("auto", True), ("auto", False)])
def test_auto_preference_follows_the_probe(preference: str, answered: bool) -> None:
    environ = {"TEST_BACKENDS": preference}
    assert backends.docker_available(environ, lambda: DockerProbe(answered, "")) is answered


# ---- backend choice: never mix -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("environ", "docker", "kafka", "clickhouse"),
    [
        ({}, True, "container", "container"),
        ({}, False, "native", "chdb"),
        ({"KAFKA_BOOTSTRAP": "broker:9092"}, True, "external", "chdb"),
        ({"KAFKA_BOOTSTRAP": "broker:9092"}, False, "external", "chdb"),
        ({"CLICKHOUSE_URL": "http://h:8123"}, True, "container", "url"),
        ({"CLICKHOUSE_URL": "http://h:8123", "KAFKA_BOOTSTRAP": "b:9092"}, True, "external", "url"),
    ],
)
def test_backend_choice(environ: dict[str, str], docker: bool, kafka: str, clickhouse: str) -> None:
    chosen_kafka = backends.choose_kafka(environ, lambda: docker)
    assert chosen_kafka == kafka
    assert backends.choose_clickhouse(environ, chosen_kafka) == clickhouse


@pytest.mark.parametrize("kafka", ["external", "container", "native"])
def test_a_clickhouse_container_only_ever_runs_next_to_the_kafka_container(kafka: Any) -> None:
    clickhouse = backends.choose_clickhouse({}, kafka)
    assert (clickhouse == "container") == (kafka == "container")


def test_an_external_broker_never_asks_docker() -> None:
    assert backends.choose_kafka({"KAFKA_BOOTSTRAP": "b:9092"}, lambda: 1 / 0 == 0) == "external"


@pytest.mark.parametrize(
    ("kafka", "clickhouse", "reads"),
    [
        ("native", "url", False),
        ("container", "url", False),
        ("external", "url", True),
        ("native", "chdb", True),
        ("external", "chdb", True),
        ("container", "container", True),
    ],
)
def test_a_url_server_reads_the_session_broker_only_when_it_is_given(
    kafka: Any, clickhouse: Any, reads: bool
) -> None:
    assert backends.clickhouse_reads_session_broker(kafka, clickhouse) is reads


# ---- addresses -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "host", "address"),
    [
        ("docker_host", "localhost", "127.0.0.1"),
        ("docker_host", "127.0.0.1", "127.0.0.1"),
        ("docker_host", "::1", "127.0.0.1"),
        # remote DOCKER_HOST / tc.host: a loopback binding would be unreachable from here
        ("docker_host", "192.168.64.2", ""),
        ("docker_host", "docker.example.internal", ""),
        # tests running in a container (Docker-in-Docker): reached through the gateway
        ("gateway_ip", "localhost", ""),
        ("bridge_ip", "localhost", ""),
    ],
)
def test_ports_are_published_on_loopback_unless_reached_from_elsewhere(
    mode: str, host: str, address: str
) -> None:
    assert backends.host_port_binding_address(mode, host) == address


@pytest.mark.parametrize(
    ("container_host", "binding", "reachable"),
    [
        ("localhost", "127.0.0.1", "127.0.0.1"),
        ("192.168.64.2", "", "192.168.64.2"),
        ("172.17.0.1", "", "172.17.0.1"),
    ],
)
def test_clients_use_the_host_testcontainers_reports(
    container_host: str, binding: str, reachable: str
) -> None:
    assert containers.reachable_host(container_host, binding) == reachable


def test_kafka_advertises_the_host_the_tests_reach_it_on() -> None:
    listeners = containers.kafka_advertised_listeners("192.168.64.2", 40123)
    assert listeners == "HOST://192.168.64.2:40123,INTERNAL://kafka:19092"
    assert containers.kafka_advertised_listeners("fd00::2", 1).startswith("HOST://[fd00::2]:1,")


def test_kafka_listener_settings_agree_with_each_other() -> None:
    environment = containers.kafka_environment()
    protocols = dict(
        p.split(":") for p in environment["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    listeners = {item.split("://")[0] for item in environment["KAFKA_LISTENERS"].split(",")}
    advertised = {
        item.split("://")[0] for item in containers.kafka_advertised_listeners("h", 1).split(",")
    }
    assert listeners == set(protocols)
    assert advertised <= listeners
    assert environment["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    assert environment["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners - advertised
    assert "KAFKA_ADVERTISED_LISTENERS" not in environment  # written once the host is known


def test_kafka_starts_the_image_script_with_the_listeners_written_after_start() -> None:
    command = containers.kafka_command()
    assert command[:2] == ["sh", "-c"]
    assert containers.KAFKA_LISTENERS_FILE in command[2]
    assert 'exec /etc/kafka/docker/run "KAFKA_ADVERTISED_LISTENERS=' in command[2]


# ---- ClickHouse container settings -------------------------------------------------------------
def test_clickhouse_container_uses_session_groups_and_the_session_broker() -> None:
    environment = containers.clickhouse_environment("kafka:19092", group_prefix="test-1a2b3c4d")
    groups = {k: v for k, v in environment.items() if k.startswith("CLICKHOUSE_KAFKA_GROUP_")}
    assert groups
    assert set(groups) == set(DEFAULT_GROUPS)
    assert all(value.startswith("test-1a2b3c4d_") for value in groups.values())
    assert not set(groups.values()) & set(DEFAULT_GROUPS.values())
    assert environment["CLICKHOUSE_KAFKA_BROKER_LIST"] == "kafka:19092"


def test_session_group_prefix_is_stable_within_a_session() -> None:
    assert backends.session_group_prefix() == backends.session_group_prefix()
    assert backends.session_group_prefix().startswith("test-")


@pytest.mark.parametrize(
    ("info", "mode"),
    [
        ({"SecurityOptions": ["name=seccomp,profile=builtin", "name=selinux"]}, "ro,z"),
        ({"SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"]}, "ro"),
        ({}, "ro"),
    ],
)
def test_bind_mounts_are_relabelled_only_under_selinux(info: dict[str, Any], mode: str) -> None:
    assert containers.bind_mount_mode(containers.selinux_enforced(info)) == mode


# ---- lifecycle -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "wanted", "action"),
    [
        ("running", "running", "none"),
        ("exited", "running", "start"),
        ("created", "running", "start"),
        ("running", "stopped", "stop"),
        ("restarting", "stopped", "stop"),
        ("exited", "stopped", "none"),
        ("created", "stopped", "none"),
    ],
)
def test_lifecycle_action(status: str, wanted: Any, action: str) -> None:
    assert containers.lifecycle_action(status, wanted) == action


class StrictWrappedContainer:
    """Behaves like moby on a wrong-state call: it refuses (the old pause/unpause failure)."""

    def __init__(self) -> None:
        self.status = "running"
        self.calls: list[str] = []
        self.attrs: dict[str, Any] = {"State": {"Status": "running"}}

    def reload(self) -> None:
        self.attrs["State"]["Status"] = self.status

    def start(self) -> None:
        if self.status == "running":
            raise RuntimeError("409 Conflict: container is already running")
        self.calls.append("start")
        self.status = "running"

    def stop(self, timeout: int) -> None:
        if self.status != "running":
            raise RuntimeError("409 Conflict: container is not running")
        self.calls.append("stop")
        self.status = "exited"


class FakeContainer:
    def __init__(self, wrapped: StrictWrappedContainer) -> None:
        self.wrapped = wrapped

    def get_wrapped_container(self) -> StrictWrappedContainer:
        return self.wrapped


def test_kafka_container_stop_and_start_are_real_and_idempotent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[str] = []
    monkeypatch.setattr(
        containers, "await_kafka", lambda bootstrap, *_, **__: waits.append(bootstrap)
    )
    wrapped = StrictWrappedContainer()
    handle = containers.KafkaContainerHandle(FakeContainer(wrapped), "127.0.0.1:1", "kafka:19092")
    handle.start()  # the fixture's restart after a test that did not stop it
    handle.stop()
    handle.stop()  # an outage test stopping twice
    handle.start()
    handle.start()  # the fixture's restart after an outage test that restarted it already
    assert wrapped.calls == ["stop", "start"]
    assert wrapped.status == "running"
    assert waits == ["127.0.0.1:1"] * 3  # every start() returns only once the broker answers


# ---- a failed start: removed, and reported with state and logs ----------------------------------
class FailingContainer:
    def __init__(self, fail_in: str) -> None:
        self.fail_in = fail_in
        self.removed = False
        self.wrapped = StrictWrappedContainer()
        self.wrapped.status = "exited"
        self.wrapped.attrs = {"State": {"Status": "exited", "ExitCode": 70, "Error": ""}}
        self.wrapped.logs = lambda tail: b"starting\nCode: 62. DB::Exception: Syntax error\n"  # type: ignore[attr-defined]

    def start(self) -> None:
        if self.fail_in == "start":
            raise RuntimeError(
                "driver failed: Bind for 127.0.0.1:9092 failed: port is already allocated"
            )

    def stop(self) -> None:
        self.removed = True

    def get_wrapped_container(self) -> StrictWrappedContainer:
        return self.wrapped


@pytest.mark.parametrize("fail_in", ["start", "ready"])
def test_a_failed_start_removes_the_container_and_reports_state_and_logs(fail_in: str) -> None:
    container = FailingContainer(fail_in)

    def ready() -> None:
        raise TimeoutError("did not answer")

    with pytest.raises(containers.ContainerFailedError) as failure:
        containers.start_container(container, "the ClickHouse container", ready)
    assert container.removed
    message = str(failure.value)
    assert "Status=exited" in message
    assert "ExitCode=70" in message
    assert "DB::Exception: Syntax error" in message


@pytest.mark.parametrize(
    ("message", "conflict"),
    [
        # moby, docker-proxy / the port allocator
        ("Bind for 127.0.0.1:40123 failed: port is already allocated", True),
        ("listen tcp4 127.0.0.1:40123: bind: address already in use", True),
        # Podman (rootlessport)
        ("rootlessport listen tcp 127.0.0.1:40123: bind: address already in use", True),
        ("No such image: apache/kafka:4.1.1", False),
    ],
)
def test_port_conflicts_are_recognised(message: str, conflict: bool) -> None:
    assert containers.is_port_conflict(RuntimeError(message)) is conflict


# ---- the stack fixture --------------------------------------------------------------------------
def test_stack_runs_compose_with_env_example_and_never_the_developers_env() -> None:
    from tests.stack.conftest import stack_compose

    command = stack_compose().compose_command_property
    assert ["--env-file", str(ENV_EXAMPLE)] == command[command.index("--env-file") :][:2]
    assert command.count("--env-file") == 1


def test_stack_drops_shell_variables_that_would_override_env_example() -> None:
    import datetime as dt

    from tests.stack.conftest import shell_variables_to_drop, stack_overrides
    from tests.support.compose_env import COMPOSE_FILE, variable_uses

    compose_variables = {use.name for use in variable_uses(COMPOSE_FILE.read_text())}
    overrides = stack_overrides("crypto-stream-test-1", {"KAFKA_HOST_PORT": 1}, dt.date(2026, 1, 5))
    shell = [
        "COINS_LCW_API_KEY",
        "CLICKHOUSE_ADMIN_PASSWORD",
        "COMPOSE_FILE",
        "HOME",
        "KAFKA_HOST_PORT",
    ]
    dropped = shell_variables_to_drop(shell, compose_variables, overrides)
    assert dropped == ["CLICKHOUSE_ADMIN_PASSWORD", "COMPOSE_FILE"]
    # set, not dropped: a key exported in the shell must not reach the stack's producers
    assert overrides["COINS_LCW_API_KEY"] == ""


def test_stack_builds_its_own_app_image_tag() -> None:
    import datetime as dt

    from tests.stack.conftest import stack_overrides

    overrides = stack_overrides("crypto-stream-test-1", {}, dt.date(2026, 1, 5))
    developer_tag = env_example()["APP_IMAGE"]
    assert overrides["APP_IMAGE"] != developer_tag
    images = {
        service["image"]
        for service in load_compose(overrides)["services"].values()
        if "build" in service
    }
    assert images == {"crypto-stream/app:crypto-stream-test-1"}


def test_an_external_broker_is_never_stopped_and_start_is_a_no_op() -> None:
    from tests.conftest import ExternalKafkaBroker

    broker = ExternalKafkaBroker("broker.example:9092")
    broker.start()  # the fixture's restart after every outage-capable test
    broker.start()
    with pytest.raises(pytest.skip.Exception, match="cannot stop"):
        broker.stop()


# ---- the containers as testcontainers builds them (against a fake daemon) ----------------------
@pytest.fixture
def local_daemon(fake_daemon: str, fresh_probe: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """DOCKER_HOST on the fake daemon's socket, tests not in a container: a laptop, a CI runner.

    (This machine is itself a container, /.dockerenv, which testcontainers takes for
    Docker-in-Docker: core/testcontainers/core/utils.py ``inside_container``.)
    """
    monkeypatch.setenv("DOCKER_HOST", fake_daemon)
    monkeypatch.setattr("testcontainers.core.utils.inside_container", lambda: False)
    return fake_daemon


@pytest.mark.usefixtures("fresh_probe")
def test_tests_inside_a_container_publish_on_every_interface(
    fake_daemon: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from testcontainers.core.docker_client import DockerClient

    # a devcontainer or Docker-in-Docker: testcontainers reaches containers via the gateway
    monkeypatch.setenv("DOCKER_HOST", fake_daemon)
    monkeypatch.setattr("testcontainers.core.utils.inside_container", lambda: True)
    monkeypatch.setattr(DockerClient, "find_host_network", lambda self: None)
    container = containers.new_kafka_container(None, 40123)
    assert container.get_docker_client().get_connection_mode().value == "gateway_ip"
    assert container.ports == {"9092": ("", 40123)}


@pytest.mark.usefixtures("local_daemon")
def test_kafka_container_is_published_on_loopback_with_a_fixed_port() -> None:
    from tests.support.images import compose_image

    container = containers.new_kafka_container(None, 40123)
    assert container.image == compose_image("kafka")
    assert container.ports == {"9092": ("127.0.0.1", 40123)}
    assert container.env == containers.kafka_environment()
    assert container._command == containers.kafka_command()


@pytest.mark.usefixtures("local_daemon")
def test_kafka_container_advertises_what_testcontainers_reports() -> None:
    import io
    import tarfile

    container = containers.new_kafka_container(None, 40123)
    written: list[bytes] = []

    class Wrapped:
        def put_archive(self, path: str, data: bytes) -> bool:
            assert path == "/"
            written.append(data)
            return True

    container.get_wrapped_container = Wrapped  # the running container's API object
    container.get_exposed_port = lambda port: 40123  # the mapped port, once it runs
    # testcontainers says "localhost" for a local socket (docker_client.py: ``host``)
    assert container.get_container_host_ip() == "localhost"
    bootstrap = containers.advertise(container, "127.0.0.1")
    assert bootstrap == "127.0.0.1:40123"
    with tarfile.open(fileobj=io.BytesIO(written[0])) as tar:
        member = tar.getmember(containers.KAFKA_LISTENERS_FILE.lstrip("/"))
        content = tar.extractfile(member).read()  # type: ignore[union-attr]
    assert content.decode() == "HOST://127.0.0.1:40123,INTERNAL://kafka:19092"


@pytest.mark.usefixtures("fresh_probe")
def test_a_remote_daemon_gets_its_ports_on_every_interface_and_advertised_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from testcontainers.core.config import testcontainers_config

    # tc.host / TC_HOST: the address containers are reached on, e.g. a VM or a remote daemon
    monkeypatch.setenv("DOCKER_HOST", "tcp://docker.example.internal:2375")
    monkeypatch.setattr(testcontainers_config, "tc_host_override", None)
    monkeypatch.setattr(
        "testcontainers.core.container.DockerClient",
        _OfflineDockerClient,
    )
    container = containers.new_kafka_container(None, 40123)
    assert container.ports == {"9092": ("", 40123)}
    assert container.get_container_host_ip() == "docker.example.internal"


class _OfflineDockerClient:
    """testcontainers' DockerClient without the version round-trip to a daemon that is not
    there: the real ``host``/``get_connection_mode`` logic on a docker-py client that never
    connects."""

    def __new__(cls, **kwargs: Any) -> Any:
        import docker
        from testcontainers.core.docker_client import DockerClient

        client = DockerClient.__new__(DockerClient)
        client.client = docker.DockerClient(
            base_url="tcp://docker.example.internal:2375", version="1.44"
        )
        return client


@pytest.mark.parametrize(("selinux", "mode"), [(False, "ro"), (True, "ro,z")])
@pytest.mark.usefixtures("local_daemon")
def test_clickhouse_container_mounts_read_only_and_publishes_on_loopback(
    selinux: bool, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = ("name=seccomp,profile=builtin", "name=selinux") if selinux else ("name=seccomp",)
    monkeypatch.setattr(_FakeDaemonHandler, "security_options", options)
    environment = containers.clickhouse_environment("kafka:19092", group_prefix="test-0")
    container = containers.new_clickhouse_container(None, environment)
    assert container.ports == {"8123": ("127.0.0.1", None)}
    assert container.env == environment
    mounts = {mount["bind"]: mount["mode"] for mount in container.volumes.values()}
    assert mounts == {target: mode for _, target in containers.compose_mounts("clickhouse")}


@pytest.mark.parametrize(
    ("preference", "answered", "status"),
    [("native", True, 1), ("auto", True, 0), ("auto", False, 1), ("docker", False, 2)],
)
def test_make_test_runs_the_stack_session_only_where_docker_answers(
    preference: str, answered: bool, status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make test` asks `python -m tests.support.backends` whether to run tests/stack: 0 run it,
    1 not here, 2 TEST_BACKENDS=docker without Docker (make fails before any test)."""
    monkeypatch.setenv("TEST_BACKENDS", preference)
    monkeypatch.setattr(backends, "probe_docker", lambda: DockerProbe(answered, "probe"))
    assert backends.main() == status
