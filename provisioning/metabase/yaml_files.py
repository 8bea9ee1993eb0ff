"""Writing definition files the way a person would: block-style SQL, no default noise."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from provisioning.metabase.schema import schema_file_name


class _ReadableDumper(yaml.SafeDumper):
    """Multi-line strings as `|` blocks so SQL and Markdown stay readable in diffs."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    block = "\n" in value and not any(line != line.rstrip() for line in value.splitlines())
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if block else None)


_ReadableDumper.add_representer(str, _represent_str)


def slug(name: str) -> str:
    """A file name for an object name: lower case, words joined by underscores."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "unnamed"


def render(model: BaseModel, kind: str, path: Path, definitions_dir: Path) -> str:
    """The YAML text of a definition, headed by its schema reference."""
    data: dict[str, Any] = model.model_dump(mode="json", exclude_defaults=True)
    schema = definitions_dir / "schema" / schema_file_name(kind)
    relative = Path(os.path.relpath(schema, path.parent)).as_posix()
    header = f"# yaml-language-server: $schema={relative}\n"
    body = yaml.dump(data, Dumper=_ReadableDumper, sort_keys=False, allow_unicode=True, width=100)
    return header + body
