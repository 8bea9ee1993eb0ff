"""Run a command at start, then once a day at a fixed UTC time (the ``backfill`` service).

``coins-daily --at 12:20 --failure-file /tmp/backfill-failed -- coins backfill``

The command itself resumes where it stopped, so the scheduler only decides when. A failed run
leaves the failure file (the container's healthcheck reads it) and is retried at the next slot;
a successful run removes it and creates the optional ready file (for a job whose first run must
finish before the service counts as healthy, e.g. a provisioner: ``test -e ready``).
SIGTERM/SIGINT are passed to a running command, then the scheduler exits, so
``docker compose down`` does not wait for a kill timeout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Protocol

from producers.logs import console_script

log = logging.getLogger(__name__)


class ChildProcess(Protocol):
    """The part of ``subprocess.Popen`` the scheduler uses."""

    def wait(self) -> int: ...

    def poll(self) -> int | None: ...

    def send_signal(self, signum: int) -> None: ...


def start_process(command: Sequence[str]) -> ChildProcess:
    return subprocess.Popen(list(command))


def parse_time_of_day(text: str) -> dt.time:
    """``HH:MM`` (UTC) -> a time; anything else is an error naming the expected form."""
    try:
        hours, minutes = (int(part) for part in text.strip().split(":"))
        return dt.time(hours, minutes, tzinfo=dt.UTC)
    except ValueError as error:
        raise ValueError(f"expected HH:MM (UTC), got {text!r}") from error


def next_slot(now: dt.datetime, at: dt.time) -> dt.datetime:
    """The first moment strictly after ``now`` whose UTC time of day is ``at``."""
    now = now.astimezone(dt.UTC)
    candidate = dt.datetime.combine(now.date(), at.replace(tzinfo=None), tzinfo=dt.UTC)
    if candidate <= now:
        candidate += dt.timedelta(days=1)
    return candidate


@dataclass
class DailyRunner:
    command: Sequence[str]
    at: dt.time
    failure_file: Path
    ready_file: Path | None = None
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    start: Callable[[Sequence[str]], ChildProcess] = start_process
    stop_requested: threading.Event = field(default_factory=threading.Event)
    _child: ChildProcess | None = None

    def run_once(self) -> int:
        self._child = self.start(self.command)
        if self.stop_requested.is_set() and self._child.poll() is None:
            # SIGTERM arrived while the child was starting, before request_stop could see it.
            self._child.send_signal(signal.SIGTERM)
        try:
            status = self._child.wait()
        finally:
            self._child = None
        if self.stop_requested.is_set():
            return status  # interrupted on purpose: neither a success nor a failure
        if status == 0:
            self.failure_file.unlink(missing_ok=True)
            if self.ready_file is not None:
                self.ready_file.parent.mkdir(parents=True, exist_ok=True)
                self.ready_file.touch()
        else:
            self.failure_file.parent.mkdir(parents=True, exist_ok=True)
            self.failure_file.write_text(f"exit status {status}\n")
        return status

    def run_forever(self) -> None:
        while not self.stop_requested.is_set():
            status = self.run_once()
            if self.stop_requested.is_set():
                return
            now = self.clock()
            upcoming = next_slot(now, self.at)
            outcome = "succeeded" if status == 0 else f"failed with exit status {status}"
            log.info("%s %s; next run at %s", " ".join(self.command), outcome, upcoming.isoformat())
            self.stop_requested.wait((upcoming - now).total_seconds())

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        self.stop_requested.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.send_signal(signum)


@console_script
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="coins-daily", description="Run a command now and then every day at HH:MM UTC."
    )
    parser.add_argument("--at", required=True, help="time of day, HH:MM UTC")
    parser.add_argument("--failure-file", type=Path, required=True, help="exists after a failure")
    parser.add_argument(
        "--ready-file", type=Path, help="created after the first successful run (optional)"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- command and arguments")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    try:
        at = parse_time_of_day(args.at)
    except ValueError as error:
        parser.error(str(error))
    runner = DailyRunner(
        command=command, at=at, failure_file=args.failure_file, ready_file=args.ready_file
    )
    signal.signal(signal.SIGTERM, runner.request_stop)
    signal.signal(signal.SIGINT, runner.request_stop)
    runner.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
