"""``make up``'s preflight: what Docker must offer before ``docker compose up --wait`` runs.

One line per check, ``ok`` or what is missing and how to fix it; exit status 1 when a check
fails (a warning does not). Standard library only, so it runs before the virtualenv exists:
``python3 -m provisioning.preflight``.

- the ``docker`` client is installed;
- the Compose plugin answers ``docker compose version`` (without it ``docker compose`` prints
  docker's usage text and ``make up`` ends with an unexplained error) and is at least
  ``MIN_COMPOSE``: before docker/compose#9572 (v2.6.1) ``up --wait`` did not treat a one-shot job
  awaited with ``service_completed_successfully`` as done and hung on the ``topics`` job;
- the daemon answers (``docker info``);
- Docker may use enough memory for Kafka, ksqlDB, ClickHouse and Metabase;
- the host ports compose publishes are free (unless this stack already holds them).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

MIN_COMPOSE = (2, 6, 1)
MIN_MEMORY_GIB = 4.0  # below this the JVMs do not all start
RECOMMENDED_MEMORY_GIB = 6.0
# (variable in .env, default) of every host port compose.yaml publishes.
HOST_PORTS = (
    ("KAFKA_HOST_PORT", 9094),
    ("KSQLDB_HOST_PORT", 8088),
    ("CLICKHOUSE_HTTP_HOST_PORT", 8123),
    ("CLICKHOUSE_NATIVE_HOST_PORT", 9000),
    ("METABASE_HOST_PORT", 3000),
)
COMMAND_TIMEOUT_S = 20


def _run(args: Sequence[str]) -> tuple[int, str]:
    try:
        done = subprocess.run(
            list(args), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return 124, f"{' '.join(args)} did not answer within {COMMAND_TIMEOUT_S} s"
    except OSError as error:
        return 127, str(error)
    return done.returncode, (done.stdout + done.stderr).strip()


def _version(text: str) -> tuple[int, ...] | None:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of ``.env`` (compose reads the same file)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip().strip("'\"")
    return values


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def checks(settings: Mapping[str, str]) -> list[tuple[bool, bool, str]]:
    """(passed, fatal, line) per check; later checks are skipped when Docker itself is missing."""
    results: list[tuple[bool, bool, str]] = []
    if shutil.which("docker") is None:
        results.append(
            (
                False,
                True,
                "docker: not found on PATH. Install Docker Desktop (macOS, Windows) or "
                "Docker Engine (Linux): https://docs.docker.com/get-docker/",
            )
        )
        return results
    results.append((True, True, "docker: found"))

    status, output = _run(["docker", "compose", "version", "--short"])
    version = _version(output) if status == 0 else None
    wanted = ".".join(map(str, MIN_COMPOSE))
    if version is None:
        results.append(
            (
                False,
                True,
                "docker compose: the Compose plugin is missing (`docker compose "
                "version` failed). Install it: https://docs.docker.com/compose/install/linux/ "
                "(Debian/Ubuntu: apt-get install docker-compose-plugin); Docker Desktop ships it",
            )
        )
    elif version < MIN_COMPOSE:
        results.append(
            (
                False,
                True,
                f"docker compose: version {output} is older than {wanted}, which "
                "`up --wait` needs for jobs awaited with service_completed_successfully; update "
                "Docker Desktop or the docker-compose-plugin package",
            )
        )
    else:
        results.append((True, True, f"docker compose: {output} (>= {wanted})"))

    status, output = _run(["docker", "info", "--format", "{{.MemTotal}}"])
    if status != 0 or not output.strip().isdigit():
        reason = output.splitlines()[-1] if output else f"exit status {status}"
        results.append(
            (
                False,
                True,
                f"docker daemon: not reachable ({reason}). Start Docker Desktop, "
                "or `sudo systemctl start docker`; on Linux add yourself to the docker group "
                "(`sudo usermod -aG docker $USER`, then log in again)",
            )
        )
        return results
    results.append((True, True, "docker daemon: answers"))

    memory_gib = int(output.strip()) / 1024**3
    if memory_gib < MIN_MEMORY_GIB:
        results.append(
            (
                False,
                True,
                f"docker memory: {memory_gib:.1f} GiB; the stack needs at least "
                f"{MIN_MEMORY_GIB:.0f} GiB ({RECOMMENDED_MEMORY_GIB:.0f} recommended): raise "
                "it in Docker Desktop > Settings > Resources, or lower KAFKA_HEAP_MAX, "
                "KSQLDB_HEAP_MAX and METABASE_JAVA_OPTS in .env",
            )
        )
    elif memory_gib < RECOMMENDED_MEMORY_GIB:
        results.append(
            (
                False,
                False,
                f"docker memory: {memory_gib:.1f} GiB, below the "
                f"{RECOMMENDED_MEMORY_GIB:.0f} GiB recommended; ksqlDB is the first to fail (only "
                "its two cards stay empty, `make verify` says so); raise it in Docker Desktop > "
                "Settings > Resources",
            )
        )
    else:
        results.append((True, True, f"docker memory: {memory_gib:.1f} GiB"))

    status, output = _run(["docker", "compose", "ps", "--quiet"])
    if status == 0 and output.strip():
        results.append((True, True, "host ports: the stack is already running and holds them"))
        return results
    busy = []
    for variable, default in HOST_PORTS:
        port = int(settings.get(variable) or default)
        if not _port_free(port):
            busy.append(f"{port} ({variable})")
    if busy:
        results.append(
            (
                False,
                True,
                f"host ports: in use on 127.0.0.1: {', '.join(busy)}. Stop the program "
                "using them (`lsof -i :PORT`) or set those variables to free ports in .env",
            )
        )
    else:
        ports = ", ".join(str(int(settings.get(v) or d)) for v, d in HOST_PORTS)
        results.append((True, True, f"host ports: {ports} free"))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    del argv
    settings = {**read_env_file(Path(".env")), **os.environ}
    failed = False
    for passed, fatal, line in checks(settings):
        label = "ok  " if passed else ("FAIL" if fatal else "warn")
        print(f"preflight {label} {line}")
        failed = failed or (not passed and fatal)
    if failed:
        print("preflight: fix the FAIL lines above, then run `make up` again")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
