"""Running a command as a user would, for the tests: its output captured as text, bounded by a
timeout, never raising on a non-zero exit (a test asserts on the code and shows stderr)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# ``coins`` (producers/cli.py) run by this interpreter, with or without the console script
COINS_CLI = (sys.executable, "-m", "producers.cli")


def run_command(
    args: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    **options: Any,
) -> subprocess.CompletedProcess[str]:
    options.update(env=env, cwd=cwd, timeout=timeout)
    return subprocess.run(list(args), capture_output=True, text=True, check=False, **options)
