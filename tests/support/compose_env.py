"""Reading compose.yaml and .env.example the way Docker Compose does, without Docker.

Compose interpolates ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``$VAR`` and treats
``$$`` as a literal dollar; ``load_compose`` applies the same rules (with no environment, every
variable takes its default) so the schema validation sees what Compose would run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "compose.yaml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"

_REFERENCE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


@dataclass(frozen=True)
class VariableUse:
    name: str
    default: str | None


def variable_uses(text: str) -> list[VariableUse]:
    """Every variable a compose text interpolates, with its ``:-``/``-`` default if any."""
    uses: list[VariableUse] = []
    for match in _REFERENCE.finditer(text):
        if match.group("escaped"):
            continue
        name = match.group("braced") or match.group("bare")
        op = match.group("op") or ""
        default = match.group("arg") if op in {":-", "-"} else None
        uses.append(VariableUse(name, default))
    return uses


def interpolate(text: str, environment: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("braced") or match.group("bare")
        op = match.group("op") or ""
        arg = match.group("arg") or ""
        value = environment.get(name)
        if op == ":-":
            return value if value else arg
        if op == "-":
            return value if value is not None else arg
        if op in {":?", "?"} and not value:
            raise ValueError(f"required variable {name} is not set: {arg}")
        if op == ":+":
            return arg if value else ""
        if op == "+":
            return arg if value is not None else ""
        return value or ""

    return _REFERENCE.sub(replace, text)


def _interpolate_tree(node: Any, environment: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, environment)
    if isinstance(node, list):
        return [_interpolate_tree(item, environment) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, environment) for key, value in node.items()}
    return node


def load_compose(
    environment: Mapping[str, str] | None = None, path: Path = COMPOSE_FILE
) -> dict[str, Any]:
    """compose.yaml parsed (anchors and merge keys resolved) and interpolated."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return dict(_interpolate_tree(raw, environment or {}))


def raw_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def env_example(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """``NAME=value`` lines of .env.example (comments and blank lines skipped), in order."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, separator, value = stripped.partition("=")
        if not separator:
            raise ValueError(f".env.example line is not NAME=value: {line!r}")
        values[name.strip()] = value.strip()
    return values
