"""JSON Schemas of the definition files, generated from the pydantic models.

The schemas are committed under `<definitions>/schema/` so editors can validate the YAML
(each file names its schema in a `yaml-language-server` comment); a unit test keeps the
committed copies equal to what the models generate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from provisioning.metabase.definitions import KINDS

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_file_name(kind: str) -> str:
    return f"{kind.removesuffix('s')}.schema.json"


def json_schemas() -> dict[str, dict[str, Any]]:
    """Kind ("collections", "questions", "dashboards") -> its JSON Schema."""
    schemas: dict[str, dict[str, Any]] = {}
    for kind, model in KINDS.items():
        schema = model.model_json_schema()
        schemas[kind] = {"$schema": SCHEMA_DIALECT, "$id": schema_file_name(kind), **schema}
    return schemas


def render_schema(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(definitions_dir: Path) -> list[Path]:
    directory = definitions_dir / "schema"
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for kind, schema in json_schemas().items():
        path = directory / schema_file_name(kind)
        path.write_text(render_schema(schema), encoding="utf-8")
        written.append(path)
    return written
