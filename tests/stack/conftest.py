"""The whole compose stack for the stack tests (Docker only), started once per session.

``compose_stack`` runs ``docker compose --env-file .env.example up --build --wait`` through
testcontainers under a project name of its own, with the Kafka, ksqlDB, ClickHouse and Metabase
host ports moved to free ones and its own app image tag, so a developer's running stack, `.env`
and ``crypto-stream/app:local`` are left alone; every variable compose.yaml reads comes from
.env.example or from this file, never from the developer's shell (a real API key there would
spend the developer's credits). At the end of the session it runs ``down --volumes``, removes
its image tag and fails if any container or volume of the project is left behind.

The stack tests run as their own pytest session (``make test-stack``; ``make test`` runs it
after the main session when Docker answers) with a timeout that fits a cold
``up --build --wait``. Without a Docker daemon they skip, even under CI=true (the stack is
Docker-only by definition, the Docker-backed workflow runs them); under
``TEST_BACKENDS=docker`` a missing daemon is an error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from embedded.kafka_broker import free_port
from tests.support.backends import backend_missing, docker_available
from tests.support.compose_env import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    REPO_ROOT,
    env_example,
    variable_uses,
)

ARTIFACTS_DIR = REPO_ROOT / ".test-artifacts"
# A cold `up --build --wait` pulls five images, builds the app image and waits for Metabase's
# first boot: minutes, far past the suite's 600 s per test (the first test's timeout includes
# the session fixture's setup).
STACK_TIMEOUT_S = 2700
UP_ATTEMPTS = 2
# Host ports of the services this stack test reads; the others keep their defaults.
MOVED_PORTS = (
    "KAFKA_HOST_PORT",
    "KSQLDB_HOST_PORT",
    "CLICKHOUSE_HTTP_HOST_PORT",
    "CLICKHOUSE_NATIVE_HOST_PORT",
    "METABASE_HOST_PORT",
)
# Variables Compose itself reads that would add files or profiles to the project.
COMPOSE_CLI_VARIABLES = (
    "COMPOSE_FILE",
    "COMPOSE_PROFILES",
    "COMPOSE_ENV_FILES",
    "COMPOSE_PATH_SEPARATOR",
)


STACK_TESTS_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The stack timeout for every stack test, however pytest was called."""
    for item in items:
        if STACK_TESTS_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.timeout(STACK_TIMEOUT_S))


def shell_variables_to_drop(
    current: Iterable[str], compose_variables: Iterable[str], overrides: Mapping[str, str]
) -> list[str]:
    """Variables of the developer's shell that would override .env.example for the stack
    (Compose prefers the shell's value to the env file's), except those this fixture sets."""
    read = set(compose_variables) | set(COMPOSE_CLI_VARIABLES)
    return sorted(name for name in current if name in read and name not in overrides)


def stack_overrides(project: str, ports: Mapping[str, int], today: dt.date) -> dict[str, str]:
    """What the stack test changes against .env.example."""
    return {
        "COMPOSE_PROJECT_NAME": project,
        # Its own tag: `up --build` must not retag the developer's crypto-stream/app:local.
        "APP_IMAGE": f"crypto-stream/app:{project}",
        "COINS_LCW_API_KEY": "",
        "COINS_COINS": "BTC,ETH,SOL",
        "COINS_DEMO_INTERVAL_SECONDS": "2",
        # a few days of demo history keep the backfill short
        "COINS_BACKFILL_SINCE": (today - dt.timedelta(days=3)).isoformat(),
        "KSQLDB_COMMIT_INTERVAL_MS": "1000",
        **{variable: str(port) for variable, port in ports.items()},
    }


def is_port_conflict(output: str) -> bool:
    text = output.lower()
    return "port is already allocated" in text or "address already in use" in text


@dataclass
class ComposeStack:
    """A running stack: its project name, the environment it was started with, its handle."""

    project: str
    environment: dict[str, str]
    compose: Any = field(repr=False)

    def host_port(self, variable: str) -> int:
        return int(self.environment.get(variable) or env_example()[variable])

    def url(self, variable: str) -> str:
        return f"http://127.0.0.1:{self.host_port(variable)}"

    def clickhouse(self) -> Any:
        import clickhouse_connect

        settings = env_example()
        return clickhouse_connect.get_client(
            host="127.0.0.1",
            port=self.host_port("CLICKHOUSE_HTTP_HOST_PORT"),
            username="admin",
            password=settings["CLICKHOUSE_ADMIN_PASSWORD"],
        )

    def leftovers(self) -> list[str]:
        """Containers and volumes of this project that still exist."""
        client = _docker_client()
        try:
            label = f"com.docker.compose.project={self.project}"
            containers = client.containers.list(all=True, filters={"label": label})
            volumes = client.volumes.list(filters={"label": label})
            return [f"container {c.name}" for c in containers] + [
                f"volume {v.name}" for v in volumes
            ]
        finally:
            client.close()

    def remove_image_tag(self) -> None:
        """Untag this run's app image (the layers stay cached for the next build)."""
        import docker.errors

        client = _docker_client()
        try:
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(self.environment["APP_IMAGE"])
        finally:
            client.close()

    def save_logs(self) -> None:
        ARTIFACTS_DIR.mkdir(exist_ok=True)
        try:
            stdout, stderr = self.compose.get_logs()
        except subprocess.CalledProcessError as error:
            stdout, stderr = "", f"`docker compose logs` failed: {error}"
        (ARTIFACTS_DIR / f"{self.project}.log").write_text(stdout + stderr)


def _docker_client() -> Any:
    """The daemon testcontainers (and so `docker compose` through the same context) uses."""
    from testcontainers.core.docker_client import DockerClient

    return DockerClient().client


def _require_docker() -> None:
    if not docker_available():
        pytest.skip(
            "the compose stack needs a Docker daemon (none answers here); the Docker-backed "
            "workflow runs these tests"
        )
    if shutil.which("docker") is None or (
        subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False
        ).returncode
        != 0
    ):
        backend_missing("docker compose", "Install the Docker Compose plugin (v2.24 or newer).")


def stack_compose() -> Any:
    """`docker compose --env-file .env.example` on compose.yaml: `up --build --wait`, and
    `down --volumes` at the end (testcontainers-python 4.15, compose/compose.py)."""
    from testcontainers.compose import DockerCompose

    return DockerCompose(
        str(REPO_ROOT),
        compose_file_name=COMPOSE_FILE.name,
        env_file=str(ENV_EXAMPLE),
        build=True,
        wait=True,
    )


def _start(patch: pytest.MonkeyPatch) -> ComposeStack:
    """`up --build --wait` with fresh host ports, again with others if one was taken meanwhile."""
    compose_variables = {use.name for use in variable_uses(COMPOSE_FILE.read_text())}
    for attempt in range(1, UP_ATTEMPTS + 1):
        project = f"crypto-stream-test-{uuid.uuid4().hex[:8]}"
        ports = {variable: free_port() for variable in MOVED_PORTS}
        environment = stack_overrides(project, ports, dt.datetime.now(dt.UTC).date())
        for name in shell_variables_to_drop(os.environ, compose_variables, environment):
            patch.delenv(name)
        for name, value in environment.items():
            patch.setenv(name, value)
        compose = stack_compose()
        stack = ComposeStack(project=project, environment=environment, compose=compose)
        try:
            compose.start()
            return stack
        except subprocess.CalledProcessError as error:
            output = (error.stderr or b"").decode(errors="replace")
            stack.save_logs()
            _tear_down(stack)
            if attempt == UP_ATTEMPTS or not is_port_conflict(output):
                raise RuntimeError(f"`docker compose up` failed:\n{output[-4000:]}") from error
    raise AssertionError("unreachable: the last attempt returns or raises")


def _tear_down(stack: ComposeStack) -> None:
    try:
        stack.compose.stop(down=True)
    finally:
        stack.remove_image_tag()


@pytest.fixture(scope="session")
def compose_stack(request: pytest.FixtureRequest) -> Iterator[ComposeStack]:
    _require_docker()
    patch = pytest.MonkeyPatch()
    try:
        stack = _start(patch)
        try:
            yield stack
            if request.session.testsfailed:
                stack.save_logs()
        finally:
            _tear_down(stack)
        left = stack.leftovers()
        assert left == [], f"`docker compose down --volumes` left {left}"
    finally:
        patch.undo()
