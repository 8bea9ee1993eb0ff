"""Export a dashboard edited in the Metabase UI back to the definition files.

The dashboard (filters, layout, text cards) and every question on it are read through the
API, turned into definitions, checked together with the files that are not touched, and
only then written: a question or dashboard already defined keeps its file; a new one gets a
file named after it. Collections unknown to the files are added as collection files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from provisioning.metabase.client import JsonObject, MetabaseClient
from provisioning.metabase.definitions import (
    CollectionDefinition,
    DashboardCard,
    DashboardDefinition,
    DashboardParameter,
    DefinitionError,
    Definitions,
    QuestionDefinition,
    TemplateTag,
    load_definitions,
)
from provisioning.metabase.errors import ContractError, MetabaseError
from provisioning.metabase.payloads import stored_dashcards
from provisioning.metabase.visualization import without_migration_version
from provisioning.metabase.yaml_files import render, slug

log = logging.getLogger(__name__)

_SUPPORTED_PARAMETER_TYPES = {"string/=", "number/="}

ModelT = TypeVar("ModelT", bound=BaseModel)


def _as_definition(factory: Callable[[], ModelT]) -> ModelT:
    try:
        return factory()
    except ValidationError as error:
        raise DefinitionError(
            f"the dashboard as edited in Metabase cannot be expressed as files: {error}"
        ) from error


@dataclass(frozen=True)
class _Collections:
    by_id: dict[int, JsonObject]

    def name(self, collection_id: Any, what: str) -> str:
        collection = self.by_id.get(collection_id) if isinstance(collection_id, int) else None
        if collection is None:
            raise MetabaseError(f"{what} is not in a collection; move it into one and export again")
        return str(collection["name"])

    def definition(self, collection_id: int) -> CollectionDefinition:
        collection = self.by_id[collection_id]
        location = str(collection.get("location") or "/")
        parent_ids = [int(part) for part in location.strip("/").split("/") if part]
        parent = self.by_id.get(parent_ids[-1]) if parent_ids else None
        return CollectionDefinition(
            name=collection["name"],
            description=collection.get("description") or "",
            parent=parent["name"] if parent else None,
        )


class DashboardExporter:
    """Reads one dashboard by name and writes it (and its questions) to the files."""

    def __init__(self, client: MetabaseClient, definitions_dir: Path) -> None:
        self._client = client
        self._dir = definitions_dir

    def export(self, dashboard_name: str) -> list[Path]:
        current = load_definitions(self._dir)
        collections = _Collections(
            {
                c["id"]: c
                for c in self._client.get_list("/api/collection")
                if isinstance(c.get("id"), int) and not c.get("archived")
            }
        )
        dashboard_id = self._find_dashboard(dashboard_name, collections)
        stored = self._client.get_object(f"/api/dashboard/{dashboard_id}")
        if stored.get("tabs"):
            raise ContractError(
                f"dashboard {dashboard_name!r} has tabs; the files describe one page of cards, "
                "so move the cards to one tab and export again"
            )
        parameter_slugs = {
            str(p.get("id")): str(p.get("slug")) for p in stored.get("parameters", [])
        }
        questions: dict[str, QuestionDefinition] = {}
        cards: list[DashboardCard] = []
        needed_collections = (
            {int(stored["collection_id"])} if stored.get("collection_id") else set()
        )
        for dashcard in sorted(stored_dashcards(stored), key=lambda d: (d["row"], d["col"])):
            card, question, collection_id = self._dashcard(dashcard, parameter_slugs, collections)
            cards.append(card)
            if question is not None:
                questions[question.name] = question
            if collection_id is not None:
                needed_collections.add(collection_id)
        previous = next((d for d in current.dashboards if d.name == dashboard_name), None)
        dashboard = _as_definition(
            lambda: DashboardDefinition(
                name=stored["name"],
                collection=collections.name(
                    stored.get("collection_id"), f"dashboard {dashboard_name!r}"
                ),
                description=stored.get("description") or "",
                auto_refresh_seconds=previous.auto_refresh_seconds if previous else None,
                parameters=[_parameter(p) for p in stored.get("parameters", [])],
                cards=cards,
            )
        )
        known = {c.name for c in current.collections}
        new_collections = [
            collections.definition(cid)
            for cid in sorted(needed_collections)
            if collections.by_id[cid]["name"] not in known
        ]
        self._check_consistency(current, dashboard, questions, new_collections)
        return self._write(current, dashboard, questions, new_collections)

    def _find_dashboard(self, name: str, collections: _Collections) -> int:
        for collection_id, collection in collections.by_id.items():
            if collection.get("personal_owner_id") is not None:
                continue
            items = self._client.get_list(
                f"/api/collection/{collection_id}/items", {"models": "dashboard"}
            )
            for item in items:
                if item.get("name") == name and isinstance(item.get("id"), int):
                    return int(item["id"])
        raise MetabaseError(f"no dashboard named {name!r} in any collection")

    def _dashcard(
        self, dashcard: JsonObject, parameter_slugs: dict[str, str], collections: _Collections
    ) -> tuple[DashboardCard, QuestionDefinition | None, int | None]:
        layout = {
            "row": dashcard["row"],
            "col": dashcard["col"],
            "width": dashcard["size_x"],
            "height": dashcard["size_y"],
        }
        card_id = dashcard.get("card_id")
        if card_id is None:
            text = (dashcard.get("visualization_settings") or {}).get("text") or ""
            return _as_definition(lambda: DashboardCard(text=text, **layout)), None, None
        card = self._client.get_object(f"/api/card/{card_id}")
        question = self._question(card, collections)
        filters: dict[str, str] = {}
        for mapping in dashcard.get("parameter_mappings") or []:
            target = mapping.get("target")
            slug_name = parameter_slugs.get(str(mapping.get("parameter_id")))
            if (
                slug_name is not None
                and isinstance(target, list)
                and len(target) == 2
                and target[0] == "variable"
                and isinstance(target[1], list)
                and target[1][:1] == ["template-tag"]
            ):
                filters[slug_name] = str(target[1][1])
            else:
                raise ContractError(
                    f"question {question.name!r}: filter mapping {target!r} is not a "
                    "template-variable mapping; only those can be exported"
                )
        dashboard_card = _as_definition(
            lambda: DashboardCard(question=question.name, filters=filters, **layout)
        )
        return dashboard_card, question, int(card["collection_id"])

    def _question(self, card: JsonObject, collections: _Collections) -> QuestionDefinition:
        name = str(card.get("name"))
        query = card.get("dataset_query") or {}
        native = query.get("native") if query.get("type") == "native" else None
        if not isinstance(native, dict):
            raise ContractError(
                f"question {name!r} is not a native SQL question; only SQL questions export"
            )
        tags = []
        for tag in (native.get("template-tags") or {}).values():
            if tag.get("type") not in ("text", "number"):
                raise ContractError(
                    f"question {name!r}: variable {tag.get('name')!r} has type "
                    f"{tag.get('type')!r}; only text and number variables export"
                )
            tags.append(
                TemplateTag(
                    name=tag["name"],
                    display_name=tag.get("display-name") or tag["name"],
                    type=tag["type"],
                    default=tag.get("default"),
                    required=bool(tag.get("required", False)),
                )
            )
        return _as_definition(
            lambda: QuestionDefinition.model_validate(
                {
                    "name": name,
                    "collection": collections.name(card.get("collection_id"), f"question {name!r}"),
                    "description": card.get("description") or "",
                    "display": card.get("display"),
                    "sql": native.get("query", ""),
                    "parameters": tags,
                    # Metabase's migrated form, without its `version` bookkeeping key
                    "visualization_settings": without_migration_version(
                        card.get("visualization_settings") or {}
                    ),
                }
            )
        )

    @staticmethod
    def _check_consistency(
        current: Definitions,
        dashboard: DashboardDefinition,
        questions: dict[str, QuestionDefinition],
        new_collections: list[CollectionDefinition],
    ) -> None:
        try:
            Definitions(
                collections=[*current.collections, *new_collections],
                questions=[q for q in current.questions if q.name not in questions]
                + list(questions.values()),
                dashboards=[d for d in current.dashboards if d.name != dashboard.name]
                + [dashboard],
            )
        except ValidationError as error:
            raise DefinitionError(
                f"exported dashboard conflicts with the files: {error}"
            ) from error

    def _write(
        self,
        current: Definitions,
        dashboard: DashboardDefinition,
        questions: dict[str, QuestionDefinition],
        new_collections: list[CollectionDefinition],
    ) -> list[Path]:
        planned: list[tuple[BaseModel, str, Path]] = []
        for collection in new_collections:
            planned.append(
                (collection, "collections", self._path(current, "collections", collection.name))
            )
        for question in questions.values():
            planned.append((question, "questions", self._path(current, "questions", question.name)))
        planned.append((dashboard, "dashboards", self._path(current, "dashboards", dashboard.name)))
        existing: dict[tuple[str, str], BaseModel] = {
            **{("collections", c.name): c for c in current.collections},
            **{("questions", q.name): q for q in current.questions},
            **{("dashboards", d.name): d for d in current.dashboards},
        }
        written: list[Path] = []
        for model, kind, path in planned:
            if existing.get((kind, getattr(model, "name", ""))) == model:
                # Same definition: keep the file as its author formatted it.
                continue
            text = render(model, kind, path, self._dir)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
            log.info(
                "exported %s %r to %s", kind.removesuffix("s"), getattr(model, "name", ""), path
            )
        return written

    def _path(self, current: Definitions, kind: str, name: str) -> Path:
        return current.sources.get(f"{kind}:{name}") or self._dir / kind / f"{slug(name)}.yaml"


def _parameter(stored: JsonObject) -> DashboardParameter:
    parameter_type = str(stored.get("type"))
    if parameter_type == "category":
        parameter_type = "string/="
    if parameter_type not in _SUPPORTED_PARAMETER_TYPES:
        raise ContractError(
            f"dashboard filter {stored.get('name')!r} has type {parameter_type!r}; "
            f"only {sorted(_SUPPORTED_PARAMETER_TYPES)} export"
        )
    default = stored.get("default")
    if isinstance(default, list):
        default = default[0] if default else None
    config = stored.get("values_source_config") or {}
    values = config.get("values") if stored.get("values_source_type") == "static-list" else None
    return DashboardParameter.model_validate(
        {
            "slug": stored["slug"],
            "name": stored["name"],
            "type": parameter_type,
            "default": default,
            "values": [str(v[0] if isinstance(v, list) else v) for v in values] if values else None,
            "required": bool(stored.get("required", False)),
        }
    )
