"""One line when a service cannot be reached, naming the setting that points at it.

    cannot reach Kafka at localhost:9094 (COINS_KAFKA_BOOTSTRAP_SERVERS): connection refused

Every console script says a connection failure this way, with a non-zero exit and no
traceback: the fix is almost always the setting, so the line names it. Before a command opens
its Kafka clients, ``require_kafka`` tries a TCP connection to the bootstrap servers, so an
absent broker is said once, by us, instead of by aiokafka's retries and a traceback.
"""

from __future__ import annotations

import errno
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from aiokafka.errors import KafkaConnectionError

from producers.env_settings import ClickHouseConnectionSettings, KafkaConnectionSettings, env_name
from producers.logs import redact

T = TypeVar("T")
PROBE_TIMEOUT_SECONDS = 5.0
_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\"\]\)]+)")


@dataclass(frozen=True)
class Endpoint:
    """A service, where the settings say it is, and the variable that says so."""

    service: str
    address: str
    setting: str


class UnreachableError(ConnectionError):
    """``str()`` is the whole message: one line, the setting named."""

    def __init__(self, endpoint: Endpoint, reason: str) -> None:
        super().__init__(
            f"cannot reach {endpoint.service} at {endpoint.address} ({endpoint.setting}): {reason}"
        )
        self.endpoint = endpoint
        self.reason = reason


def kafka_endpoint(settings: KafkaConnectionSettings) -> Endpoint:
    return Endpoint(
        "Kafka",
        settings.kafka_bootstrap_servers,
        env_name(KafkaConnectionSettings, "kafka_bootstrap_servers"),
    )


CLICKHOUSE_SETTING = env_name(ClickHouseConnectionSettings, "clickhouse_url")


def require_clickhouse(url: str, setting: str = CLICKHOUSE_SETTING) -> None:
    """Raise ``UnreachableError`` unless the server of a clickhouse-connect ``url`` answers TCP
    (the port defaults as clickhouse-connect's do: 8123, 8443 over https)."""
    parts = urlsplit(url)
    if parts.port is None:
        default = 8443 if parts.scheme == "https" else 8123
        url = parts._replace(netloc=f"{parts.netloc}:{default}").geturl()
    require_url(url, "ClickHouse", setting)


def reason_of(error: BaseException) -> str | None:
    """The operating system's words for a connection failure ("connection refused"), found
    in the exception or in what caused it; None when it holds none."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.timeout | TimeoutError):
            return "no answer (timed out)"
        if isinstance(current, OSError) and current.strerror:
            return current.strerror.lower()
        found = _ERRNO_TEXT.search(str(current))
        if found:
            return found.group(1).strip().lower()
        current = current.__cause__ or current.__context__
    return None


def _host_port(server: str, default_port: int) -> tuple[str, int]:
    server = server.strip()
    if server.startswith("["):  # [::1]:9092
        host, _, rest = server[1:].partition("]")
        return host, int(rest.lstrip(":") or default_port)
    host, colon, port = server.rpartition(":")
    if not colon:
        return server, default_port
    return host, int(port)


def probe(servers: list[tuple[str, int]], timeout: float = PROBE_TIMEOUT_SECONDS) -> str | None:
    """None when one of ``servers`` accepts a TCP connection, else why the first did not."""
    first_reason: str | None = None
    for host, port in servers:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return None
        except OSError as error:
            reason = reason_of(error) or errno.errorcode.get(error.errno or 0, str(error))
            first_reason = first_reason or reason
    return first_reason or "no server named"


def require_url(
    url: str, service: str, setting: str, timeout: float = PROBE_TIMEOUT_SECONDS
) -> None:
    """Raise ``UnreachableError`` unless the host of an HTTP ``url`` accepts a connection."""
    address = redact(url)  # a URL's password never reaches the line
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise UnreachableError(Endpoint(service, address, setting), str(error)) from None
    reason = probe([(parts.hostname or "localhost", port)], timeout)
    if reason is not None:
        raise UnreachableError(Endpoint(service, address, setting), reason)


def require_kafka(
    settings: KafkaConnectionSettings, timeout: float = PROBE_TIMEOUT_SECONDS
) -> None:
    """Raise ``UnreachableError`` unless a bootstrap server accepts a connection."""
    endpoint = kafka_endpoint(settings)
    try:
        servers = [
            _host_port(server, 9092) for server in endpoint.address.split(",") if server.strip()
        ]
    except ValueError:
        raise UnreachableError(endpoint, "not a list of host:port") from None
    reason = probe(servers, timeout)
    if reason is not None:
        raise UnreachableError(endpoint, reason)


def kafka_unreachable(settings: KafkaConnectionSettings, error: BaseException) -> UnreachableError:
    """The one-line form of an aiokafka connection failure (KafkaConnectionError and kin)."""
    return UnreachableError(
        kafka_endpoint(settings), reason_of(error) or "no broker answered as Kafka"
    )


def reaching_kafka(settings: KafkaConnectionSettings, run: Callable[[], T]) -> T:
    """``run()`` once the broker accepts connections; any connection failure, before or
    during, is raised as ``UnreachableError`` (one line, the setting named)."""
    require_kafka(settings)
    try:
        return run()
    except KafkaConnectionError as error:
        raise kafka_unreachable(settings, error) from None
