"""``make local``: the pipeline without Docker, in the foreground, stopped cleanly by Ctrl-C.

What runs: a real Apache Kafka broker (Maven Central jars, data in ``.local/kafka``), the
producers' topics, ``coins stream`` and ``coins backfill`` (run at start, then daily at
``COINS_BACKFILL_DAILY_AT_UTC``, as the compose ``backfill`` service does) as child processes, and
ClickHouse embedded in this process (chDB, data in ``.local/clickhouse``) with
``clickhouse/init`` applied unchanged: its real Kafka tables and the same materialized views as
the server ingest every topic. ``coins top`` runs in the foreground, in this same process,
because chDB lets one process hold a data path. ksqlDB and Metabase do not exist here.

Stop order (SIGINT or SIGTERM): the producers first (they flush what Kafka acknowledged),
then ClickHouse reads up to the end of every topic (bounded by ``COINS_LOCAL_DRAIN_SECONDS``;
whatever is left stays in Kafka with the committed offsets, and the next start resumes from
there), then the engine closes, then the broker stops. Nothing is ever deleted.

After a restart ClickHouse starts consuming after about 40 s (measured): closing chDB does
not make its Kafka consumers leave their groups, so the broker waits for the old members'
session timeout (librdkafka's 45 s default) before it assigns the partitions again. Nothing
is lost meanwhile: the messages wait in Kafka behind the committed offsets.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

from pydantic import ValidationError

from alerts.settings import AlertSettings
from embedded.clickhouse import INIT_DIR, EmbeddedClickHouse, open_embedded
from embedded.kafka_broker import (
    KAFKA_VERSION,
    KafkaUnavailableError,
    NativeKafkaBroker,
    die_with_parent,
    kafka_jars_dir,
)
from embedded.settings import LocalSettings
from producers.kafka.connection import KafkaConnection
from producers.kafka.topics import ensure_topics, producer_topics, topic_variables
from producers.logs import configure_logging, hide_secrets
from producers.retry import Deadline
from producers.settings import Settings

# Bumped when the layout of .local changes in a way an older directory cannot be reused.
LAYOUT_VERSION = 1
MANIFEST = "local.json"
CHILD_STOP_SECONDS = 45.0

NOTICE = (
    "make local: Kafka broker + embedded ClickHouse (chDB) + producers, no Docker. ksqlDB and "
    "Metabase do not run in this mode: no ksqlDB windows (its OHLC and moving-average topics "
    "stay empty), no web dashboards; minute OHLC comes from "
    "ClickHouse's own rollup (crypto.ohlc_minute_live) and `coins top` is the dashboard."
)

STATUS_SQL = """
SELECT
    (SELECT count() FROM crypto.coins_ticks FINAL) AS ticks,
    (SELECT count() FROM (SELECT code, minute FROM crypto.rollup_ohlc_minute GROUP BY code, minute))
        AS minutes,
    (SELECT count() FROM crypto.coins_history FINAL) AS history,
    (SELECT count() FROM crypto.moving_averages_daily_snapshot) AS indicator_rows,
    (SELECT count() FROM crypto.ingest_errors) AS errors
"""


class LocalError(RuntimeError):
    """A reason ``make local`` cannot start, as one line for the user; nothing was deleted."""


# ---- the data directory --------------------------------------------------------------------
def schema_fingerprint(init_dir: Path = INIT_DIR) -> str:
    """A digest of clickhouse/init: the objects of a store are created once, like a server's
    init scripts, so a store made from other SQL would keep other views or fail to apply."""
    digest = hashlib.sha256()
    for path in sorted(init_dir.glob("*.sql")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def engine_versions() -> dict[str, str]:
    """What wrote a .local directory: layout, Kafka, the chDB engine (from package metadata,
    so the check runs before anything opens the data) and the clickhouse/init it applied."""
    versions = {"layout": str(LAYOUT_VERSION), "kafka": KAFKA_VERSION}
    for package in ("chdb-core", "chdb"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions["clickhouse"] = f"{package} {importlib.metadata.version(package)}"
            break
    versions["schema (clickhouse/init)"] = schema_fingerprint()
    return versions


def check_data_dir(settings: LocalSettings) -> None:
    """Refuse a .local written by another version (or by something else); create a new one."""
    root = settings.local_dir
    manifest = root / MANIFEST
    current = engine_versions()
    if manifest.exists():
        try:
            recorded = json.loads(manifest.read_text())
        except (OSError, ValueError) as error:
            raise LocalError(f"{manifest} is unreadable ({error}); nothing was touched") from None
        if recorded != current:
            differences = ", ".join(
                f"{key} {recorded.get(key, '?')} (this version: {current.get(key, '?')})"
                for key in sorted(set(recorded) | set(current))
                if recorded.get(key) != current.get(key)
            )
            raise LocalError(
                f"{root} was written by another version: {differences}. Nothing was deleted: "
                f"move it away or set COINS_LOCAL_DIR to a new directory"
            )
        return
    if root.exists() and any(root.iterdir()):
        raise LocalError(
            f"{root} exists but has no {MANIFEST}: it was not written by `make local` (or by a "
            "version before it). Nothing was deleted: move it away or set COINS_LOCAL_DIR"
        )
    root.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(current, indent=2) + "\n")


# ---- child processes -----------------------------------------------------------------------
@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout_s: float = CHILD_STOP_SECONDS) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


def start_child(name: str, command: Sequence[str], log_dir: Path, env: dict[str, str]) -> Child:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=die_with_parent,
            start_new_session=True,  # Ctrl-C reaches the supervisor, which stops them in order
        )
    return Child(name, process, log_path)


def producer_commands(settings: LocalSettings) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "stream": [python, "-m", "producers.cli", "stream"],
        "backfill": [
            python,
            "-m",
            "provisioning.daily",
            "--at",
            settings.backfill_daily_at_utc,
            "--failure-file",
            str(settings.local_dir / "backfill-failed"),
            "--",
            python,
            "-m",
            "producers.cli",
            "backfill",
        ],
    }


# ---- the supervisor ------------------------------------------------------------------------
class LocalPipeline:
    """Starts and stops every part of ``make local`` in order; ``say`` prints progress lines."""

    def __init__(self, settings: LocalSettings, say: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.say = say
        self.broker: NativeKafkaBroker | None = None
        self.engine: EmbeddedClickHouse | None = None
        self.children: list[Child] = []

    def start(self) -> EmbeddedClickHouse:
        settings = self.settings
        check_data_dir(settings)
        kafka_jars_dir()  # Java and Maven present, jars resolved (first run: a few minutes)
        broker = NativeKafkaBroker(
            settings.kafka_dir,
            port=settings.local_kafka_port,
            controller_port=settings.local_kafka_controller_port,
            heap=settings.local_kafka_heap,
        )
        resumed = broker.formatted_storage_exists()
        self.say(f"Kafka {broker.version}: starting on {broker.bootstrap} ({settings.kafka_dir})")
        broker.start()
        self.broker = broker
        producer_settings = Settings().model_copy(
            update={"kafka_bootstrap_servers": broker.bootstrap}
        )
        connection = KafkaConnection.from_settings(producer_settings)
        created = asyncio.run(ensure_topics(connection, producer_topics(producer_settings)))
        self.say("topics: " + (", ".join(created) if created else "all exist (resuming)"))
        self.say(f"ClickHouse (chDB): opening {settings.clickhouse_dir}, applying clickhouse/init")
        try:
            self.engine = open_embedded(
                settings.clickhouse_dir,
                connection,
                topics=topic_variables(producer_settings, AlertSettings()),
            )
        except Exception as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise LocalError(
                f"ClickHouse could not open {settings.clickhouse_dir} with clickhouse/init: "
                f"{first_line} (nothing was deleted)"
            ) from error
        env = {**os.environ, "COINS_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}
        source = "demo source (no COINS_LCW_API_KEY)" if producer_settings.demo else "LiveCoinWatch"
        for name, command in producer_commands(settings).items():
            self.children.append(start_child(name, command, settings.local_dir / "logs", env))
        self.say(
            f"producers: coins stream and coins backfill from the {source}; logs in "
            f"{settings.local_dir / 'logs'}"
            + ("; resumed from the previous run's data and offsets" if resumed else "")
        )
        return self.engine

    def failed_children(self) -> list[Child]:
        return [c for c in self.children if c.process.poll() not in (None, 0)]

    def status(self) -> dict[str, int]:
        if self.engine is None:
            return {}
        (row,) = self.engine.client.query(STATUS_SQL).result_rows
        return dict(zip(("ticks", "minutes", "history", "indicators", "errors"), row, strict=True))

    def stop(self) -> None:
        """Producers, then a bounded drain into ClickHouse, then the engine, then the broker."""
        for child in self.children:
            status = child.stop()
            self.say(f"{child.name}: stopped (exit status {status})")
        self.children = []
        if self.engine is not None:
            engine, self.engine = self.engine, None
            try:
                self._drain(engine)
            finally:
                engine.close()
                self.say("ClickHouse: closed")
        if self.broker is not None:
            broker, self.broker = self.broker, None
            broker.stop()
            self.say("Kafka: stopped")

    def _drain(self, engine: EmbeddedClickHouse) -> None:
        deadline = Deadline.after(self.settings.local_drain_seconds)
        for table in engine.kafka_tables.values():
            try:
                engine.wait_caught_up(table, timeout_s=max(deadline.remaining, 1.0))
            except Exception as error:
                self.say(
                    f"ClickHouse: {table.name} did not catch up before stopping "
                    f"({type(error).__name__}); the rest stays in Kafka and is read at the next "
                    "start"
                )


@contextlib.contextmanager
def running(settings: LocalSettings, say: Callable[[str], None] = print) -> Iterator[LocalPipeline]:
    pipeline = LocalPipeline(settings, say)
    try:
        pipeline.start()
        yield pipeline
    finally:
        pipeline.stop()


class StopSignal:
    """SIGINT/SIGTERM set an event (and call ``also``) instead of raising in the main thread."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.also: Callable[[], None] | None = None

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.event.set()
        if self.also is not None:
            self.also()

    def install(self) -> None:
        signal.signal(signal.SIGINT, self)
        signal.signal(signal.SIGTERM, self)


def run_headless(pipeline: LocalPipeline, stop: StopSignal, every_s: float, out: IO[str]) -> None:
    """Print one status line every ``every_s`` seconds until a stop signal."""
    while not stop.event.wait(every_s):
        counts = pipeline.status()
        line = "status: " + ", ".join(f"{key} {value}" for key, value in counts.items())
        failed = pipeline.failed_children()
        if failed:
            line += " · STOPPED: " + ", ".join(f"{c.name} (see {c.log_path})" for c in failed)
        print(line, file=out, flush=True)


def run_dashboard(
    pipeline: LocalPipeline, engine: EmbeddedClickHouse, settings: LocalSettings, stop: StopSignal
) -> None:
    from terminal.app import TopApp
    from terminal.credits import credits_line
    from terminal.store import Store

    store = Store(engine.client, f"embedded store {settings.clickhouse_dir}")
    app = TopApp(
        store,
        refresh_seconds=settings.top_refresh_seconds,
        stale_after_seconds=settings.top_stale_after_seconds,
        notice=NOTICE,
        credits=credits_line,
    )

    def quit_dashboard() -> None:
        app.call_later(app.exit)

    stop.also = quit_dashboard
    if not stop.event.is_set():
        app.run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coins local", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no dashboard: print a status line every --status-every seconds (default when "
        "stdout is not a terminal)",
    )
    parser.add_argument("--status-every", type=float, default=10.0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = LocalSettings()
        producer_settings = Settings()  # validated before anything starts
    except ValidationError as error:
        print(f"invalid configuration: {error}", file=sys.stderr)
        return 2
    headless = args.headless or not sys.stdout.isatty()
    hide_secrets(settings, producer_settings)
    if not headless:  # the dashboard owns the terminal: this process logs to a file
        try:
            check_data_dir(settings)  # before the log file is the first thing in a new .local
        except LocalError as error:
            print(f"make local: {error}", file=sys.stderr)
            return 1
        log_file = (settings.local_dir / "supervisor.log").open("a", encoding="utf-8")
        configure_logging(stream=log_file)
    stop = StopSignal()
    stop.install()
    print(NOTICE, flush=True)
    try:
        with running(settings, lambda line: print(line, flush=True)) as pipeline:
            engine = pipeline.engine
            assert engine is not None
            print("running; Ctrl-C stops everything cleanly", flush=True)
            if headless:
                run_headless(pipeline, stop, args.status_every, sys.stdout)
            else:
                run_dashboard(pipeline, engine, settings, stop)
            print("stopping: producers, then ClickHouse catches up, then Kafka", flush=True)
    except (LocalError, KafkaUnavailableError) as error:
        print(f"make local: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    print("stopped; data kept in " + str(settings.local_dir), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
