"""The backfill service's scheduler: run now, then daily at HH:MM UTC; failures are visible."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from provisioning.daily import DailyRunner, main, next_slot, parse_time_of_day
from tests.support.waiting import eventually

UTC = dt.UTC


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (dt.datetime(2026, 1, 1, 8, 0, tzinfo=UTC), dt.datetime(2026, 1, 1, 12, 20, tzinfo=UTC)),
        (dt.datetime(2026, 1, 1, 12, 20, tzinfo=UTC), dt.datetime(2026, 1, 2, 12, 20, tzinfo=UTC)),
        (dt.datetime(2026, 1, 1, 23, 59, tzinfo=UTC), dt.datetime(2026, 1, 2, 12, 20, tzinfo=UTC)),
        (
            dt.datetime(2026, 12, 31, 13, 0, tzinfo=UTC),
            dt.datetime(2027, 1, 1, 12, 20, tzinfo=UTC),
        ),
        # a non-UTC clock is converted first: 14:00 at UTC+2 is 12:00 UTC
        (
            dt.datetime(2026, 1, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            dt.datetime(2026, 1, 1, 12, 20, tzinfo=UTC),
        ),
    ],
)
def test_next_slot(now: dt.datetime, expected: dt.datetime) -> None:
    assert next_slot(now, dt.time(12, 20)) == expected


def test_parse_time_of_day() -> None:
    assert parse_time_of_day(" 07:05 ") == dt.time(7, 5, tzinfo=UTC)
    for bad in ("7", "25:00", "12:60", "noon"):
        with pytest.raises(ValueError, match="HH:MM"):
            parse_time_of_day(bad)


@dataclass
class FakeProcess:
    status: int
    signals: list[int] = field(default_factory=list)

    def wait(self) -> int:
        return self.status

    def poll(self) -> int | None:
        return None

    def send_signal(self, signum: int) -> None:
        self.signals.append(signum)


@dataclass
class FakeStarter:
    statuses: list[int]
    runner: DailyRunner | None = None
    stop_after: int = 0
    commands: list[list[str]] = field(default_factory=list)

    def __call__(self, command: Sequence[str]) -> FakeProcess:
        self.commands.append(list(command))
        if self.runner is not None and len(self.commands) >= self.stop_after:
            self.runner.stop_requested.set()
        return FakeProcess(self.statuses.pop(0))


def test_failure_file_follows_the_last_run(tmp_path: Path) -> None:
    failure = tmp_path / "state" / "failed"
    starter = FakeStarter(statuses=[3, 0])
    runner = DailyRunner(
        command=["coins", "backfill"], at=dt.time(12, 20), failure_file=failure, start=starter
    )
    assert runner.run_once() == 3
    assert failure.read_text() == "exit status 3\n"
    assert runner.run_once() == 0
    assert not failure.exists()


def test_ready_file_appears_after_the_first_success_only(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    runner = DailyRunner(
        command=["provision"],
        at=dt.time(3, 0),
        failure_file=tmp_path / "failed",
        ready_file=ready,
        start=FakeStarter(statuses=[1, 0, 2]),
    )
    runner.run_once()
    assert not ready.exists()
    runner.run_once()
    assert ready.exists()
    runner.run_once()
    assert ready.exists(), "once provisioned, a later failure shows in the failure file only"
    assert (tmp_path / "failed").exists()


def test_runs_now_then_waits_for_the_next_slot(tmp_path: Path) -> None:
    waits: list[float] = []
    # the stop arrives while the third run is under way
    starter = FakeStarter(statuses=[1, 0, 3], stop_after=3)
    runner = DailyRunner(
        command=["coins", "backfill"],
        at=dt.time(12, 20),
        failure_file=tmp_path / "failed",
        clock=lambda: dt.datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        start=starter,
    )
    starter.runner = runner

    class RecordingEvent:
        def __init__(self) -> None:
            self.stopped = False

        def is_set(self) -> bool:
            return self.stopped

        def set(self) -> None:
            self.stopped = True

        def wait(self, seconds: float) -> bool:
            waits.append(seconds)
            return self.stopped

    runner.stop_requested = RecordingEvent()  # type: ignore[assignment]
    runner.run_forever()

    assert starter.commands == [["coins", "backfill"]] * 3
    assert waits == [20 * 60.0, 20 * 60.0]
    # run 2 succeeded; the interrupted run 3 is not counted as a failure
    assert not (tmp_path / "failed").exists()


@dataclass
class StoppedWhileRunning(FakeProcess):
    """A command during which SIGTERM reaches the scheduler."""

    runner: DailyRunner | None = None

    def wait(self) -> int:
        assert self.runner is not None
        self.runner.request_stop(signal.SIGTERM)
        return self.status


def test_stop_is_forwarded_to_the_running_command(tmp_path: Path) -> None:
    child = StoppedWhileRunning(143)
    runner = DailyRunner(
        command=["sleep"], at=dt.time(0, 0), failure_file=tmp_path / "f", start=lambda _c: child
    )
    child.runner = runner
    assert runner.run_once() == 143
    assert runner.stop_requested.is_set()
    assert child.signals == [signal.SIGTERM]


def test_a_stop_that_arrives_while_the_command_starts_still_reaches_it(tmp_path: Path) -> None:
    # SIGTERM between the child's start and run_once seeing it: request_stop found no child,
    # so run_once must forward it (this race made the SIGTERM test below hang under load).
    runner = DailyRunner(command=["sleep"], at=dt.time(0, 0), failure_file=tmp_path / "f")
    child = FakeProcess(143)

    def start(_command: Sequence[str]) -> FakeProcess:
        runner.request_stop(signal.SIGTERM)  # no child yet: nothing to forward
        return child

    runner.start = start
    runner.run_once()

    assert child.signals == [signal.SIGTERM]
    assert not (tmp_path / "f").exists(), "a stop is not a failed run"


def test_real_command_runs_and_stop_ends_the_loop(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    runner = DailyRunner(
        command=["sh", "-c", f"echo x >> {marker}; exit 4"],
        at=dt.time(0, 0),
        failure_file=tmp_path / "failed",
    )
    assert runner.run_once() == 4
    assert marker.read_text() == "x\n"
    assert (tmp_path / "failed").read_text() == "exit status 4\n"


def test_main_requires_a_command() -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--at", "12:20", "--failure-file", "/tmp/x"])
    assert caught.value.code == 2


def test_main_rejects_a_bad_time() -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--at", "noon", "--failure-file", "/tmp/x", "--", "true"])
    assert caught.value.code == 2


def test_sigterm_stops_the_scheduler_and_its_running_command(tmp_path: Path) -> None:
    started = tmp_path / "started"
    scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "provisioning.daily",
            "--at",
            "00:00",
            "--failure-file",
            str(tmp_path / "failed"),
            "--",
            "sh",
            "-c",
            f"touch {started}; exec sleep 60",
        ]
    )
    try:
        eventually(started.exists, within=10, what="the command to start", interval=0.02)
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(timeout=10) == 0
        assert not (tmp_path / "failed").exists(), "a stop is not a failed run"
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
