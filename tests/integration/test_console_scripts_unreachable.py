"""Every console script, run as a user runs it, against a port where nothing listens: one line
naming the setting to change, a non-zero exit, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.commands import run_command

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def closed_port() -> Iterator[int]:
    """A port bound (so nothing else takes it) but never listening: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        yield int(holder.getsockname()[1])


def _run(
    command: list[str], environment: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("COINS_", "KSQLDB_", "METABASE_", "VERIFY_", "HEALTHCHECK_"))
    }
    # cwd: no .env there
    return run_command(
        [str(BIN / command[0]), *command[1:]], env={**clean, **environment}, cwd=cwd, timeout=180
    )


def _problem_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """Output lines other than informational log lines."""
    return [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and " INFO " not in line
    ]


KAFKA_COMMANDS = [
    ["coins", "topics"],
    ["coins", "stream", "--max-cycles", "1"],
    ["coins", "backfill"],
    ["coins", "alerts"],
    ["coins-topics", "--ksqldb-dir", str(REPO_ROOT / "ksqldb")],
    ["coins-portfolio", "publish", str(REPO_ROOT / "portfolio" / "transactions.yaml")],
    ["coins-healthcheck"],
]


@pytest.mark.parametrize("command", KAFKA_COMMANDS, ids=" ".join)
def test_kafka_unreachable_is_one_line_naming_the_setting(
    command: list[str], closed_port: int, tmp_path: Path
) -> None:
    result = _run(command, {"COINS_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port}"}, tmp_path)

    expected = (
        f"cannot reach Kafka at 127.0.0.1:{closed_port} (COINS_KAFKA_BOOTSTRAP_SERVERS): "
        "connection refused"
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    problems = _problem_lines(result)
    assert len(problems) == 1, problems
    assert expected in problems[0]


def test_coins_sql_clickhouse_unreachable(closed_port: int, tmp_path: Path) -> None:
    url = f"http://admin:secret-pw@127.0.0.1:{closed_port}"
    result = _run(["coins", "sql", "SELECT 1"], {"COINS_CLICKHOUSE_URL": url}, tmp_path)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "secret-pw" not in result.stdout + result.stderr
    assert _problem_lines(result) == [
        f"coins sql: cannot reach ClickHouse at http://admin:**********@127.0.0.1:{closed_port} "
        "(--clickhouse or COINS_CLICKHOUSE_URL): connection refused"
    ]


HTTP_COMMANDS = {
    "ksqlDB": (
        ["coins-ksql-apply", "--dir", str(REPO_ROOT / "ksqldb")],
        "KSQLDB_URL",
        {"KSQLDB_TIMEOUT_SECONDS": "1"},
    ),
    "Metabase": (
        ["coins-metabase", "provision"],
        "METABASE_URL",
        {
            "METABASE_HEALTH_TIMEOUT_SECONDS": "0.5",
            "METABASE_DEFINITIONS_DIR": str(REPO_ROOT / "metabase"),
        },
    ),
}


@pytest.mark.parametrize("service", sorted(HTTP_COMMANDS))
def test_http_service_unreachable_is_one_line_naming_the_setting(
    service: str, closed_port: int, tmp_path: Path
) -> None:
    command, setting, extra = HTTP_COMMANDS[service]
    url = f"http://127.0.0.1:{closed_port}"
    result = _run(command, {setting: url, **extra}, tmp_path)

    assert result.returncode != 0
    problems = _problem_lines(result)
    assert len(problems) == 1, problems
    assert problems[0].endswith(f"cannot reach {service} at {url} ({setting}): connection refused")


def test_verify_says_each_unreachable_hop_with_its_setting(
    closed_port: int, tmp_path: Path
) -> None:
    result = _run(
        ["coins-verify"],
        {
            "COINS_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port}",
            "KSQLDB_URL": f"http://127.0.0.1:{closed_port}",
            "METABASE_URL": f"http://127.0.0.1:{closed_port}",
            "COINS_CLICKHOUSE_URL": f"http://admin:pw@127.0.0.1:{closed_port}",
            "KSQLDB_STATEMENTS_DIR": str(REPO_ROOT / "ksqldb"),
            "METABASE_DEFINITIONS_DIR": str(REPO_ROOT / "metabase"),
        },
        tmp_path,
    )

    assert result.returncode == 1
    assert result.stderr == ""  # no client library noise, no traceback
    for service, setting in (
        ("Kafka", "COINS_KAFKA_BOOTSTRAP_SERVERS"),
        ("ksqlDB", "KSQLDB_URL"),
        ("ClickHouse", "COINS_CLICKHOUSE_URL"),
        ("Metabase", "METABASE_URL"),
    ):
        assert f"cannot reach {service} at " in result.stdout
        assert f"({setting}): connection refused" in result.stdout


def test_verify_outside_the_repository_says_which_settings_find_the_files(tmp_path: Path) -> None:
    result = _run(["coins-verify"], {}, tmp_path)

    assert result.returncode == 2
    assert _problem_lines(result) == [
        "coins-verify: no *.sql files in ksqldb: run it from the repository, or set "
        "KSQLDB_STATEMENTS_DIR and METABASE_DEFINITIONS_DIR"
    ]
