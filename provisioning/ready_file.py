"""Jobs that stay up after their work, so ``docker compose up --wait`` sees them healthy.

``up --wait`` reports an exited one-shot job as a failure unless a long-running service depends
on it with ``service_completed_successfully`` (docker/compose ``pkg/compose/start.go``). A job
nothing can wait for (the ksqlDB applier, the Metabase provisioner) therefore writes a ready file
its healthcheck looks for, then waits for SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

log = logging.getLogger(__name__)


def add_keep_running_option(parser: argparse.ArgumentParser) -> None:
    """``--keep-running READY_FILE``, the same option for every such job."""
    parser.add_argument(
        "--keep-running",
        metavar="READY_FILE",
        type=Path,
        default=None,
        help="after success, create READY_FILE and wait for SIGTERM (a compose job that "
        "`docker compose up --wait` can see healthy instead of exited)",
    )


def clear_ready_file(ready_file: Path | None) -> None:
    """A restarted container keeps its /tmp: never look ready before this run is."""
    if ready_file is not None:
        ready_file.unlink(missing_ok=True)


def idle_until_stopped(ready_file: Path) -> None:
    """Mark the job done and wait for SIGTERM/SIGINT, then remove the mark."""
    stop = threading.Event()
    previous = {
        number: signal.signal(number, lambda *_: stop.set())
        for number in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        ready_file.parent.mkdir(parents=True, exist_ok=True)
        ready_file.write_text("ready\n", encoding="utf-8")
        log.info("done; waiting for SIGTERM (ready file %s)", ready_file)
        stop.wait()
    finally:
        ready_file.unlink(missing_ok=True)
        for number, handler in previous.items():
            signal.signal(number, handler)
