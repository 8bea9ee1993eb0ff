"""The clickhouse service's start-up contract (issue 9 §4), read from the image's entrypoint
(ClickHouse/ClickHouse docker/server/entrypoint.sh): init files run only on a first start and
stop at the first failure, so compose reruns them at every start, and the healthcheck passes
only when the last init file's object exists. The script runs here with a stand-in
``clickhouse-client`` (the real one only exists in the image)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from embedded.clickhouse import INIT_DIR
from tests.support.compose_env import REPO_ROOT, load_compose

SCRIPT = REPO_ROOT / "clickhouse" / "healthcheck.sh"
SERVICE = load_compose()["services"]["clickhouse"]
FAKE_CLIENT = """#!/bin/bash
printf '%s\\n' "$@" > "$FAKE_CLIENT_LOG"
[ -n "${FAKE_CLIENT_FAIL:-}" ] && { echo "Connection refused" >&2; exit 210; }
echo "$FAKE_CLIENT_ANSWER"
"""


def last_object(directory: Path) -> str:
    text = sorted(directory.glob("*.sql"))[-1].read_text()
    match = re.search(r"^CREATE .* IF NOT EXISTS ([\w.]+)", text, re.MULTILINE)
    assert match is not None
    return match.group(1)


def run_healthcheck(
    tmp_path: Path, answer: str, *, init_dir: Path = INIT_DIR, fail: bool = False
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    client = bin_dir / "clickhouse-client"
    client.write_text(FAKE_CLIENT)
    client.chmod(client.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "client-args"
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "CLICKHOUSE_INIT_DIR": str(init_dir),
        "CLICKHOUSE_USER": "admin",
        "CLICKHOUSE_PASSWORD": "secret",
        "FAKE_CLIENT_LOG": str(log),
        "FAKE_CLIENT_ANSWER": answer,
        **({"FAKE_CLIENT_FAIL": "1"} if fail else {}),
    }
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=environment, capture_output=True, text=True, check=False
    )
    return result, log.read_text().splitlines() if log.exists() else []


def test_healthy_only_when_the_last_init_object_exists(tmp_path: Path) -> None:
    healthy, arguments = run_healthcheck(tmp_path, "1")
    assert healthy.returncode == 0, healthy.stderr
    assert arguments[arguments.index("--query") + 1] == f"EXISTS TABLE {last_object(INIT_DIR)}"
    assert arguments[arguments.index("--user") + 1] == "admin"
    # the container's address: the init server of the image listens on 127.0.0.1 only
    assert arguments[arguments.index("--host") + 1] not in {"127.0.0.1", "localhost"}

    half_initialised, _ = run_healthcheck(tmp_path, "0")
    assert half_initialised.returncode != 0
    assert last_object(INIT_DIR) in half_initialised.stderr


def test_unhealthy_while_the_server_does_not_answer(tmp_path: Path) -> None:
    down, _ = run_healthcheck(tmp_path, "1", fail=True)
    assert down.returncode != 0


def test_the_last_file_decides_even_when_files_are_added(tmp_path: Path) -> None:
    init_dir = tmp_path / "init"
    shutil.copytree(INIT_DIR, init_dir)
    (init_dir / "999_view_added_later.sql").write_text(
        "-- a later file\nCREATE VIEW IF NOT EXISTS crypto.added_later AS SELECT 1;\n"
    )
    result, arguments = run_healthcheck(tmp_path, "1", init_dir=init_dir)
    assert result.returncode == 0
    assert arguments[arguments.index("--query") + 1] == "EXISTS TABLE crypto.added_later"


def test_empty_init_folder_is_unhealthy(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result, arguments = run_healthcheck(tmp_path, "1", init_dir=empty)
    assert result.returncode != 0
    assert arguments == []


def test_compose_reruns_the_idempotent_init_at_every_start() -> None:
    assert SERVICE["environment"]["CLICKHOUSE_ALWAYS_RUN_INITDB_SCRIPTS"] == "1"


def test_compose_runs_the_script_as_healthcheck_with_a_long_start_period() -> None:
    mounts = {
        volume.split(":")[1]: volume.split(":")[0]
        for volume in SERVICE["volumes"]
        if volume.startswith("./")
    }
    script_in_container = SERVICE["healthcheck"]["test"][-1]
    assert mounts[script_in_container] == "./clickhouse/healthcheck.sh"
    start_period = SERVICE["healthcheck"]["start_period"]
    assert start_period.endswith("s")
    assert int(start_period[:-1]) >= 120


@pytest.mark.parametrize("limit", ["soft", "hard"])
def test_compose_raises_the_open_files_limit_as_the_image_advises(limit: str) -> None:
    assert SERVICE["ulimits"]["nofile"][limit] == 262144


@pytest.mark.parametrize("path", sorted(INIT_DIR.glob("*.sql")), ids=lambda p: p.name)
def test_every_init_file_names_its_object_where_the_script_reads_it(path: Path) -> None:
    # any file may become the last one: its CREATE must start a line, as the script expects
    creates = re.findall(r"^CREATE (.*) IF NOT EXISTS ([\w.]+)", path.read_text(), re.MULTILINE)
    assert len(creates) == 1, path.name
