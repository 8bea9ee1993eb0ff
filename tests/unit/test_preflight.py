"""``make up``'s preflight, run as a new user would, with stub ``docker`` executables on PATH."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.commands import run_command

REPO_ROOT = Path(__file__).resolve().parents[2]
PORT_VARIABLES = (
    "KAFKA_HOST_PORT",
    "KSQLDB_HOST_PORT",
    "CLICKHOUSE_HTTP_HOST_PORT",
    "CLICKHOUSE_NATIVE_HOST_PORT",
    "METABASE_HOST_PORT",
)
# Answers like the real client: `docker compose` without the plugin is an unknown command,
# `docker info` without a daemon prints a 0 on stdout and the error on stderr, exit 1.
STUB_DOCKER = """#!/bin/sh
case "$1 $2" in
  "compose version")
    if [ -n "$STUB_COMPOSE" ]; then echo "$STUB_COMPOSE"; exit 0; fi
    echo "docker: unknown command: docker compose" >&2; exit 1 ;;
  "info --format")
    if [ -n "$STUB_MEMORY" ]; then echo "$STUB_MEMORY"; exit 0; fi
    echo 0
    echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1 ;;
  "compose ps")
    echo "$STUB_RUNNING"; exit 0 ;;
esac
echo "unexpected: docker $*" >&2
exit 2
"""
GIB = 1024**3


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def free_ports() -> dict[str, str]:
    return {variable: str(_free_port()) for variable in PORT_VARIABLES}


@pytest.fixture
def stub_bin(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    docker = directory / "docker"
    docker.write_text(STUB_DOCKER)
    docker.chmod(0o755)
    return directory


def preflight(path: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_command(
        [sys.executable, "-m", "provisioning.preflight"],
        cwd=cwd,
        env={"PATH": str(path), "PYTHONPATH": str(REPO_ROOT), **env},
        timeout=60,
    )


def test_no_docker_at_all(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    run = preflight(empty, tmp_path)

    assert run.returncode == 1
    assert "preflight FAIL docker: not found on PATH" in run.stdout
    assert "https://docs.docker.com/get-docker/" in run.stdout


def test_docker_without_the_compose_plugin_and_without_a_daemon(
    stub_bin: Path, tmp_path: Path
) -> None:
    run = preflight(stub_bin, tmp_path)

    lines = run.stdout.splitlines()
    assert run.returncode == 1
    assert lines[0] == "preflight ok   docker: found"
    assert lines[1].startswith("preflight FAIL docker compose: the Compose plugin is missing")
    assert "docker-compose-plugin" in lines[1]
    assert lines[2].startswith("preflight FAIL docker daemon: not reachable (Cannot connect")
    assert "usage" not in run.stdout.lower()


def test_a_compose_too_old_for_up_wait(
    stub_bin: Path, tmp_path: Path, free_ports: dict[str, str]
) -> None:
    run = preflight(
        stub_bin, tmp_path, STUB_COMPOSE="2.3.3", STUB_MEMORY=str(8 * GIB), **free_ports
    )

    assert run.returncode == 1
    assert "preflight FAIL docker compose: version 2.3.3 is older than 2.6.1" in run.stdout


def test_too_little_memory_fails_and_a_little_less_than_recommended_warns(
    stub_bin: Path, tmp_path: Path, free_ports: dict[str, str]
) -> None:
    low = preflight(
        stub_bin, tmp_path, STUB_COMPOSE="2.40.3", STUB_MEMORY=str(2 * GIB), **free_ports
    )
    tight = preflight(
        stub_bin, tmp_path, STUB_COMPOSE="2.40.3", STUB_MEMORY=str(5 * GIB), **free_ports
    )

    assert low.returncode == 1
    assert "preflight FAIL docker memory: 2.0 GiB; the stack needs at least 4 GiB" in low.stdout
    assert tight.returncode == 0
    assert "preflight warn docker memory: 5.0 GiB, below the 6 GiB recommended" in tight.stdout


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_a_busy_host_port_names_its_variable(
    stub_bin: Path, tmp_path: Path, free_ports: dict[str, str], busy_port: int
) -> None:
    (tmp_path / ".env").write_text(f"METABASE_HOST_PORT={busy_port}\n")
    ports = {k: v for k, v in free_ports.items() if k != "METABASE_HOST_PORT"}

    run = preflight(stub_bin, tmp_path, STUB_COMPOSE="v2.40.3", STUB_MEMORY=str(8 * GIB), **ports)

    assert run.returncode == 1
    assert f"preflight FAIL host ports: in use on 127.0.0.1: {busy_port} (METABASE_HOST_PORT)" in (
        run.stdout
    )


def test_a_running_stack_holds_its_own_ports(
    stub_bin: Path, tmp_path: Path, busy_port: int
) -> None:
    run = preflight(
        stub_bin,
        tmp_path,
        STUB_COMPOSE="2.40.3",
        STUB_MEMORY=str(8 * GIB),
        STUB_RUNNING="4f2c9e",
        METABASE_HOST_PORT=str(busy_port),
    )

    assert run.returncode == 0
    assert "host ports: the stack is already running" in run.stdout


def test_everything_in_place(stub_bin: Path, tmp_path: Path, free_ports: dict[str, str]) -> None:
    run = preflight(
        stub_bin, tmp_path, STUB_COMPOSE="2.40.3", STUB_MEMORY=str(16 * GIB), **free_ports
    )

    assert run.returncode == 0, run.stdout
    assert [line.split()[1] for line in run.stdout.splitlines()] == ["ok"] * 5
    assert "docker compose: 2.40.3 (>= 2.6.1)" in run.stdout


def test_make_up_runs_the_preflight_before_compose() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "\nup: preflight " in makefile
    assert "python3 -m provisioning.preflight" in makefile
