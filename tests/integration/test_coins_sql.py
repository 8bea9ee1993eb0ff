"""`coins sql` on the embedded store held by another process (chDB: one process per data path):
one clear line naming the holder, measured against a real chDB engine holding the path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.commands import COINS_CLI, run_command

HOLDER = """
import sys, clickhouse_connect
client = clickhouse_connect.get_client(dsn="chdb://" + sys.argv[1])
client.command("CREATE DATABASE IF NOT EXISTS crypto")
print("ready", flush=True)
sys.stdin.read()  # hold the path until the test closes our stdin
client.close()
"""


def _coins_sql(local_dir: Path, query: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COINS_LOCAL_DIR": str(local_dir)}
    env.pop("COINS_CLICKHOUSE_URL", None)
    return run_command([*COINS_CLI, "sql", query], env=env, timeout=120)


def test_coins_sql_on_a_store_held_by_another_process_names_the_holder(tmp_path: Path) -> None:
    store = tmp_path / ".local" / "clickhouse"
    store.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        result = _coins_sql(tmp_path / ".local", "SELECT 1")
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("coins sql: the embedded store ")
    assert f"is in use by `make local` (PID: {holder.pid})" in lines[-1]
    # once the holder is gone, the same command reads the store
    after = _coins_sql(
        tmp_path / ".local", "SELECT name FROM system.databases WHERE name = 'crypto'"
    )
    assert after.returncode == 0, after.stderr
    assert after.stdout.split() == ["name", "------", "crypto"]


def test_coins_sql_without_a_store_says_what_to_run(tmp_path: Path) -> None:
    result = _coins_sql(tmp_path / ".local", "SELECT 1")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"coins sql: no embedded store at {tmp_path / '.local' / 'clickhouse'}: run `make local` "
        "first, or pass --clickhouse URL"
    )
