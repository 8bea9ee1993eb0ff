"""Resident memory of `make local` after N minutes (default 10) on the demo source, against the
stack's documented memory budget (README: give Docker about 6 GB for `make up`).

Runs `coins local --headless` (the supervisor `make local` runs, without the dashboard) with
its default settings in a temporary data directory and free ports, and sums the resident set
(VmRSS) of its whole process tree every 10 s: the supervisor with chDB inside, the Kafka broker
JVM and the producers. Stops it with SIGINT at the end.

Usage: .venv/bin/python benchmarks/bench_local_memory.py [--minutes 10]
Goal: at most 1.5 GB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedded.kafka_broker import free_port

STACK_BUDGET_BYTES = 6 * 1024**3  # README: "give it about 6 GB of memory"
GOAL_BYTES = 1.5 * 1024**3
MIB = 1024**2


def children_of() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(root: int) -> dict[int, int]:
    tree, pending, sizes = children_of(), [root], {}
    while pending:
        pid = pending.pop()
        sizes[pid] = rss_bytes(pid)
        pending.extend(tree.get(pid, []))
    return sizes


def name_of(pid: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(part.decode(errors="replace") for part in command if part)
    for marker in ("kafka.Kafka", "producers.cli stream", "provisioning.daily", "backfill"):
        if marker in text:
            return marker
    return "supervisor (chDB)" if "local" in text else text[:40]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="local-memory-"))
    env = {
        **os.environ,
        "COINS_LOCAL_DIR": str(workdir / ".local"),
        "COINS_LOCAL_KAFKA_PORT": str(free_port()),
        "COINS_LOCAL_KAFKA_CONTROLLER_PORT": str(free_port()),
    }
    env.pop("COINS_LCW_API_KEY", None)
    log = (workdir / "local.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "producers.cli", "local", "--headless", "--status-every", "60"],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    peak, last, names = 0, {}, {}
    try:
        deadline = time.monotonic() + args.minutes * 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"`coins local` exited:\n{(workdir / 'local.log').read_text()}")
            last = tree_rss(process.pid)
            peak = max(peak, sum(last.values()))
            time.sleep(10)
        last = tree_rss(process.pid)
        names = {pid: name_of(pid) for pid in last}
        status_lines = [
            line for line in (workdir / "local.log").read_text().splitlines() if "status:" in line
        ]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=180)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
    total = sum(last.values())
    for pid, size in sorted(last.items(), key=lambda item: -item[1]):
        print(f"  {names.get(pid, '?'):24} {size / MIB:8.0f} MiB")
    print(f"  last status: {status_lines[-1] if status_lines else '(none)'}")
    print(
        f"after {args.minutes:g} min: {total / MIB:,.0f} MiB resident "
        f"(peak {peak / MIB:,.0f} MiB); "
        f"{total / STACK_BUDGET_BYTES:.0%} of the stack's documented 6 GB budget "
        f"({STACK_BUDGET_BYTES / total:.1f}x less); goal <= 1.5 GB: "
        f"{'met' if total <= GOAL_BYTES else 'NOT met'}"
    )
    print(f"make local resident memory after {args.minutes:g} min: {total / MIB:,.0f} MiB")


if __name__ == "__main__":
    main()
