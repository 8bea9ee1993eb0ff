"""A real Apache Kafka broker run from the Maven Central jars, for machines without Docker.

The jars are resolved once with Maven into a cache directory outside the repository
(``$CRYPTO_STREAM_CACHE`` or ``~/.cache/crypto-stream``); the broker runs as a single KRaft
node (broker + controller) on loopback. ``make local`` gives it fixed ports and a data
directory that survives restarts (formatted once, then reused); the tests give it free ports
and a temporary directory.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from producers.retry import Deadline, NotReadyError, RetryPolicy, retry_sync

# The same Apache Kafka as the compose broker image (a unit test holds them equal).
KAFKA_VERSION = "4.1.1"

MAVEN_TIMEOUT_S = 900
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
START_ATTEMPTS = 3
# A starting broker is asked again quickly at first, then every second.
BROKER_START_POLL = RetryPolicy(
    attempts=None, initial_seconds=0.1, max_seconds=1.0, jitter=False, retry_on=(NotReadyError,)
)

_POM_TEMPLATE = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.crypto-stream</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>{version}</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId>
      <version>1.7.36</version>
    </dependency>
  </dependencies>
</project>
"""

_LOG4J_PROPERTIES = """log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=WARN
log4j.logger.state.change.logger=WARN
"""


class KafkaUnavailableError(RuntimeError):
    """The native broker cannot be provided on this machine (no Java, no Maven, no jars)."""


class BrokerExitedError(KafkaUnavailableError):
    """The broker process ended while starting (its log tail is in the message)."""


class PortInUseError(KafkaUnavailableError):
    """A fixed port asked for is already taken by another program."""


def cache_root() -> Path:
    configured = os.environ.get("CRYPTO_STREAM_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "crypto-stream"


def kafka_jars_dir(version: str | None = None) -> Path:
    """Directory holding every runtime jar of Kafka ``version``, resolved on first use."""
    version = version or KAFKA_VERSION
    target = cache_root() / f"kafka-{version}"
    libs = target / "libs"
    marker = target / ".complete"
    if marker.exists():
        return libs
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            raise KafkaUnavailableError(
                f"'{tool}' is not on PATH: install Java 17+ and Maven to run the native Kafka "
                "broker (e.g. apt-get install openjdk-17-jre-headless maven)"
            )
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".lock").open("w") as lock:
        # Several pytest processes may start at once; only one resolves.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return libs
        (target / "pom.xml").write_text(_POM_TEMPLATE.format(version=version))
        shutil.rmtree(libs, ignore_errors=True)
        result = subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(target / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
            timeout=MAVEN_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            raise KafkaUnavailableError(
                f"Maven could not resolve Kafka {version}:\n{result.stdout[-4000:]}"
                f"\n{result.stderr[-4000:]}"
            )
        marker.write_text(version)
    return libs


def kafka_classpath(version: str | None = None) -> str:
    """Java classpath with the broker, the clients and the tools (ProducerPerformance)."""
    return str(kafka_jars_dir(version) / "*")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_cluster_id() -> str:
    """A KRaft cluster id (base64 of a UUID) that kafka-storage cannot take for an option."""
    while True:
        cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster.startswith("-"):
            return cluster


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this child if its parent dies, so no broker or producer outlives it."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def port_taken(port: int) -> bool:
    """True when something on this machine already listens on (or holds) loopback ``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _port_open(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, int(port))) == 0


async def _cluster_answers(bootstrap: str) -> bool:
    if not _port_open(bootstrap):
        return False
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


def await_kafka(bootstrap: str, timeout_s: float, alive: Callable[[], bool]) -> None:
    """Return once the broker at ``bootstrap`` answers an admin call (any broker: native or
    container); raise BrokerExitedError as soon as ``alive()`` says its process is gone."""

    def answers() -> None:
        if not alive():
            raise BrokerExitedError(f"the Kafka broker at {bootstrap} exited while starting")
        if not asyncio.run(_cluster_answers(bootstrap)):
            raise NotReadyError(bootstrap)

    try:
        retry_sync(answers, BROKER_START_POLL, deadline=Deadline.after(timeout_s))
    except NotReadyError:
        raise KafkaUnavailableError(
            f"the Kafka broker at {bootstrap} did not answer within {timeout_s:.0f} s"
        ) from None


class NativeKafkaBroker:
    """One KRaft node (broker + controller) on loopback; stop() and start() keep data and ports.

    Without ``port``/``controller_port`` it picks free ports (and others if one is taken
    meanwhile); with them it uses exactly those and refuses to start when one is in use.
    A ``workdir`` whose storage is already formatted is reused as it is: topics, messages and
    committed consumer offsets survive a restart of the process.
    """

    def __init__(
        self,
        workdir: Path,
        version: str | None = None,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        heap: str = "768m",
    ) -> None:
        self.version = version or KAFKA_VERSION
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.log_path = workdir / "broker.log"
        self._fixed_ports = port is not None or controller_port is not None
        self.port = port if port is not None else free_port()
        self.controller_port = controller_port if controller_port is not None else free_port()
        self.heap = heap
        self._process: subprocess.Popen[bytes] | None = None
        self._formatted = self.formatted_storage_exists()
        self._started_once = False

    def formatted_storage_exists(self) -> bool:
        """True when ``kafka-storage format`` already ran on this data directory."""
        return (self.data_dir / "meta.properties").exists()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "log.flush.interval.messages": "1000000",
        }
        config = self.workdir / "server.properties"
        config.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
        (self.workdir / "log4j.properties").write_text(_LOG4J_PROPERTIES)
        return config

    def _java(self, *args: str, heap: str = "256m") -> list[str]:
        return [
            "java",
            f"-Xmx{heap}",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            f"-Dlog4j.configuration=file:{self.workdir / 'log4j.properties'}",
            "-cp",
            kafka_classpath(self.version),
            *args,
        ]

    def _format_storage(self, config: Path) -> None:
        cluster = new_cluster_id()
        result = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(config)),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise KafkaUnavailableError(
                f"kafka-storage format failed:\n{result.stdout}\n{result.stderr}"
            )
        self._formatted = True

    def start(self) -> None:
        """Start the broker and return once it answers an admin call.

        Call it from a thread that lives as long as the broker (the test session's main thread):
        Linux delivers the parent-death signal when the *thread* that started it exits.
        """
        if self.running:
            return
        if shutil.which("java") is None:
            raise KafkaUnavailableError(
                "'java' is not on PATH: install Java 17+ to run the native Kafka broker "
                "(e.g. apt-get install openjdk-17-jre-headless)"
            )
        if self._fixed_ports and not self._started_once:
            for name, port in (("Kafka", self.port), ("Kafka controller", self.controller_port)):
                if port_taken(port):
                    raise PortInUseError(
                        f"port {port} ({name}) is already in use by another program: stop it "
                        "or choose another port"
                    )
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._start_once()
                return
            except BrokerExitedError:
                # Another process may have taken a port between free_port() and the bind; a
                # restart after stop() keeps its ports so that clients find the broker again.
                if self._started_once or self._fixed_ports or attempt == START_ATTEMPTS:
                    raise
                self.port, self.controller_port = free_port(), free_port()

    def _start_once(self) -> None:
        config = self._write_config()
        if not self._formatted:
            self._format_storage(config)
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            self._java("kafka.Kafka", str(config), heap=self.heap),
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
            # Its own session: a Ctrl-C in the terminal reaches the supervisor only, which stops
            # the broker last, after the producers flushed and ClickHouse caught up.
            start_new_session=True,
        )
        log.close()
        self._await_ready()
        self._started_once = True

    def _await_ready(self) -> None:
        try:
            await_kafka(self.bootstrap, READY_TIMEOUT_S, alive=lambda: self.running)
        except BrokerExitedError as error:
            raise BrokerExitedError(f"{error}; log tail:\n{self.log_tail()}") from None
        except KafkaUnavailableError as error:
            self.stop()
            raise KafkaUnavailableError(f"{error}; log tail:\n{self.log_tail()}") from None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no broker log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def native_broker(workdir: Path) -> Iterator[NativeKafkaBroker]:
    broker = NativeKafkaBroker(workdir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
