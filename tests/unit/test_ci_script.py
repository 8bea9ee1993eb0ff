""".ci/run as CI runs it: no terminal, stdin from /dev/null, several times in a row.

``make`` is a stub (the suite itself is not run again from inside the suite); ``java`` and
``mvn`` are stubs that print far more than a pipe buffer, so a ``| head`` under ``pipefail``
(the writer killed by SIGPIPE once ``head`` exits) would fail every run instead of some.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.commands import run_command

REPO_ROOT = Path(__file__).resolve().parents[2]
CI_SCRIPT = REPO_ROOT / ".ci" / "run"
RUNS = 5
NOISY_LINES = 200_000  # ~6 MB: far beyond a 64 KiB pipe buffer


def _stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!/usr/bin/env bash\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def stub_path(tmp_path: Path) -> tuple[Path, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "make-calls"
    noisy = f'for ((i = 0; i < {NOISY_LINES}; i++)); do echo "line $i"; done'
    _stub(bin_dir, "java", f"echo 'openjdk version \"17.0.99\"' >&2\n{noisy} >&2")
    _stub(bin_dir, "mvn", f"echo 'Apache Maven 3.9.99'\n{noisy}")
    _stub(bin_dir, "make", f'printf "%s\\n" "$*" >> {calls}\necho "CI=$CI"')
    return bin_dir, calls


def _run(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    return run_command(
        ["bash", str(CI_SCRIPT)], stdin=subprocess.DEVNULL, env=environment, timeout=120
    )


def test_the_ci_script_passes_every_time_without_a_terminal(stub_path: tuple[Path, Path]) -> None:
    bin_dir, calls = stub_path
    for run in range(RUNS):
        result = _run(bin_dir)
        assert result.returncode == 0, f"run {run}: {result.returncode}\n{result.stderr[-2000:]}"
        assert result.stdout.splitlines()[:2] == [
            'openjdk version "17.0.99"',
            "Apache Maven 3.9.99",
        ]
        assert "CI=true" in result.stdout
    assert calls.read_text().splitlines() == ["test PYTEST_ARGS=-ra"] * RUNS


@pytest.mark.skipif(
    shutil.which("java") is None or shutil.which("mvn") is None, reason="needs java and mvn"
)
def test_the_ci_script_preamble_passes_with_the_real_java_and_maven(
    stub_path: tuple[Path, Path],
) -> None:
    bin_dir, calls = stub_path
    (bin_dir / "java").unlink()
    (bin_dir / "mvn").unlink()
    for run in range(3):
        result = _run(bin_dir)
        assert result.returncode == 0, f"run {run}: {result.returncode}\n{result.stderr[-2000:]}"
        assert re.search(r"version", result.stdout.splitlines()[0])
        assert "Apache Maven" in result.stdout.splitlines()[1]
    assert len(calls.read_text().splitlines()) == 3


def test_no_head_after_a_pipe_in_shell_run_under_pipefail() -> None:
    # Makefile recipes run with -o pipefail, like .ci/run: `| head` there fails at random.
    for path in (CI_SCRIPT, REPO_ROOT / "Makefile"):
        code = "\n".join(
            line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
        )
        assert not re.search(r"\|\s*head\b", code), path
