"""The whole compose stack for the stack tests (Docker only), started once per session.

``compose_stack`` runs ``docker compose up --build --wait`` through testcontainers under a
project name of its own, with the Kafka, ksqlDB and ClickHouse host ports moved to free ones so a
developer's running stack is left alone, and a fast demo source. At the end of the session it
runs ``down --volumes`` and fails if any container or volume of the project is left behind.

Without a Docker daemon the stack tests skip, even under CI=true: the stack is Docker-only by
definition, and the Docker-backed workflow runs them.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.backends import backend_missing, docker_available
from tests.support.compose_env import REPO_ROOT, env_example

ARTIFACTS_DIR = REPO_ROOT / ".test-artifacts"
# Host ports of the services this stack test reads; the others keep their defaults.
MOVED_PORTS = (
    "KAFKA_HOST_PORT",
    "KSQLDB_HOST_PORT",
    "CLICKHOUSE_HTTP_HOST_PORT",
    "CLICKHOUSE_NATIVE_HOST_PORT",
    "METABASE_HOST_PORT",
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
        import docker

        client = docker.from_env()
        try:
            label = f"com.docker.compose.project={self.project}"
            containers = client.containers.list(all=True, filters={"label": label})
            volumes = client.volumes.list(filters={"label": label})
            return [f"container {c.name}" for c in containers] + [
                f"volume {v.name}" for v in volumes
            ]
        finally:
            client.close()

    def save_logs(self) -> None:
        ARTIFACTS_DIR.mkdir(exist_ok=True)
        stdout, stderr = self.compose.get_logs()
        (ARTIFACTS_DIR / f"{self.project}.log").write_text(stdout + stderr)


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


@pytest.fixture(scope="session")
def compose_stack(request: pytest.FixtureRequest) -> Iterator[ComposeStack]:
    _require_docker()
    from testcontainers.compose import DockerCompose

    project = f"crypto-stream-test-{uuid.uuid4().hex[:8]}"
    environment = {
        "COMPOSE_PROJECT_NAME": project,
        "COINS_COINS": "BTC,ETH,SOL",
        "COINS_DEMO_INTERVAL_SECONDS": "2",
        # a few days of demo history keep the backfill short
        "COINS_BACKFILL_SINCE": (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3)).isoformat(),
        "KSQLDB_COMMIT_INTERVAL_MS": "1000",
        **{variable: str(_free_port()) for variable in MOVED_PORTS},
    }
    patch = pytest.MonkeyPatch()
    for name, value in environment.items():
        patch.setenv(name, value)
    compose = DockerCompose(str(REPO_ROOT), compose_file_name="compose.yaml", build=True, wait=True)
    stack = ComposeStack(project=project, environment=environment, compose=compose)
    try:
        try:
            compose.start()
        except Exception:
            stack.save_logs()
            raise
        yield stack
        if request.session.testsfailed:
            stack.save_logs()
    finally:
        compose.stop(down=True)
        patch.undo()
    left = stack.leftovers()
    assert left == [], f"`docker compose down --volumes` left {left}"
