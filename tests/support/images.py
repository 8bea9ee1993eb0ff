"""Container image pins, read from compose.yaml so tests and the stack run the same versions."""

from __future__ import annotations

from functools import cache

from tests.support.compose_env import load_compose


@cache
def compose_image(service: str) -> str:
    """The image a compose service runs when no variable overrides its ``${X_IMAGE:-default}``."""
    return str(load_compose()["services"][service]["image"])
