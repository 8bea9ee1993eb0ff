"""Container image pins, read from compose.yaml so tests and the stack run the same versions."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "compose.yaml"

# Used only until compose.yaml pins the service: keep in step with compose.yaml.
FALLBACK_IMAGES = {
    "kafka": "apache/kafka:4.1.1",
    "clickhouse": "clickhouse/clickhouse-server:25.8",
}

_VARIABLE_WITH_DEFAULT = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+):?-(?P<default>[^}]+)\}$")


@cache
def compose_image(service: str) -> str:
    """The image a compose service runs by default (the value after ``:-`` in ``${VAR:-image}``)."""
    if COMPOSE_FILE.exists():
        document = yaml.safe_load(COMPOSE_FILE.read_text()) or {}
        image = str(document.get("services", {}).get(service, {}).get("image", ""))
        match = _VARIABLE_WITH_DEFAULT.match(image)
        if match:
            return match.group("default")
        if image:
            return image
    return FALLBACK_IMAGES[service]


def kafka_version() -> str:
    """The Apache Kafka version of the compose broker; the native broker uses the same one."""
    return compose_image("kafka").rsplit(":", 1)[1]
