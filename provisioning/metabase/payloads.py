"""Translation between the definition files and Metabase API payloads (Metabase v0.56, MBQL 4).

Ids Metabase needs that the files do not carry (template-tag ids, dashboard parameter ids)
are derived deterministically from names, so a second run computes exactly the same payload
and the comparison with what Metabase holds finds nothing to change.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from provisioning.metabase.definitions import (
    DashboardDefinition,
    DashboardParameter,
    QuestionDefinition,
    TemplateTag,
)
from provisioning.metabase.visualization import same_visualization_settings

JsonObject = dict[str, Any]

_ID_NAMESPACE = uuid.UUID("6f1f6f5e-3c1b-4f0e-9a57-63727970746f")

TEXT_CARD_VIRTUAL: JsonObject = {
    "name": None,
    "display": "text",
    "visualization_settings": {},
    "dataset_query": {},
    "archived": False,
}


def template_tag_id(question_name: str, tag_name: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"{question_name}\x1f{tag_name}"))


def dashboard_parameter_id(dashboard_name: str, slug: str) -> str:
    # Metabase's own editor uses 8 hex characters; any unique string works.
    return hashlib.sha256(f"{dashboard_name}\x1f{slug}".encode()).hexdigest()[:8]


def _template_tag(question: QuestionDefinition, tag: TemplateTag) -> JsonObject:
    payload: JsonObject = {
        "id": template_tag_id(question.name, tag.name),
        "name": tag.name,
        "display-name": tag.display_name,
        "type": tag.type,
        "required": tag.required,
    }
    if tag.default is not None:
        payload["default"] = tag.default
    return payload


def _card_parameter(question: QuestionDefinition, tag: TemplateTag) -> JsonObject:
    payload: JsonObject = {
        "id": template_tag_id(question.name, tag.name),
        "type": "category" if tag.type == "text" else "number/=",
        "target": ["variable", ["template-tag", tag.name]],
        "name": tag.display_name,
        "slug": tag.name,
        "required": tag.required,
    }
    if tag.default is not None:
        payload["default"] = tag.default
    return payload


def card_payload(
    question: QuestionDefinition, *, database_id: int, collection_id: int
) -> JsonObject:
    """The body of POST/PUT /api/card for a question."""
    return {
        "name": question.name,
        "description": question.description or None,
        "collection_id": collection_id,
        "display": question.display,
        "visualization_settings": dict(question.visualization_settings),
        "dataset_query": {
            "type": "native",
            "database": database_id,
            "native": {
                "query": question.sql,
                "template-tags": {
                    tag.name: _template_tag(question, tag) for tag in question.parameters
                },
            },
        },
        "parameters": [_card_parameter(question, tag) for tag in question.parameters],
    }


def _is_subset(desired: Any, actual: Any) -> bool:
    """True when every key of `desired` is in `actual` with an equal value (recursively).

    Metabase adds keys of its own to stored objects (timestamps, derived options), so a
    stored object matches a definition when it contains it.
    """
    if isinstance(desired, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and _is_subset(value, actual[key]) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(desired) == len(actual)
            and all(_is_subset(d, a) for d, a in zip(desired, actual, strict=True))
        )
    if isinstance(desired, int | float) and not isinstance(desired, bool):
        # A number may come back as a number or as its text (variable defaults are strings
        # in Metabase's own editor): both are the same value.
        try:
            return float(desired) == float(actual)
        except (TypeError, ValueError):
            return False
    return bool(desired == actual)


def card_differences(desired: JsonObject, actual: JsonObject) -> list[str]:
    """Names of the fields of a stored card that differ from the desired payload."""
    differences: list[str] = []
    for field in ("name", "display", "collection_id"):
        if desired[field] != actual.get(field):
            differences.append(field)
    if (desired["description"] or None) != (actual.get("description") or None):
        differences.append("description")
    if not same_visualization_settings(
        desired["visualization_settings"], actual.get("visualization_settings") or {}
    ):
        differences.append("visualization_settings")
    wanted_query = desired["dataset_query"]
    stored_query = actual.get("dataset_query") or {}
    if (
        stored_query.get("type") != "native"
        or stored_query.get("database") != wanted_query["database"]
    ):
        differences.append("dataset_query.database")
    stored_native = stored_query.get("native") or {}
    if stored_native.get("query") != wanted_query["native"]["query"]:
        differences.append("sql")
    wanted_tags = wanted_query["native"]["template-tags"]
    stored_tags = stored_native.get("template-tags") or {}
    if set(wanted_tags) != set(stored_tags) or not _is_subset(wanted_tags, stored_tags):
        differences.append("template-tags")
    if actual.get("archived"):
        differences.append("archived")
    return differences


def dashboard_parameter_payload(
    dashboard: DashboardDefinition, parameter: DashboardParameter
) -> JsonObject:
    payload: JsonObject = {
        "id": dashboard_parameter_id(dashboard.name, parameter.slug),
        "name": parameter.name,
        "slug": parameter.slug,
        "type": parameter.type,
        "sectionId": "string" if parameter.type.startswith("string") else "number",
    }
    if parameter.required:
        payload["required"] = True
    if parameter.default is not None:
        payload["default"] = [parameter.default]
    if parameter.values is not None:
        payload["values_query_type"] = "list"
        payload["values_source_type"] = "static-list"
        payload["values_source_config"] = {"values": list(parameter.values)}
    return payload


def dashcards_payload(
    dashboard: DashboardDefinition, card_ids: Mapping[str, int]
) -> list[JsonObject]:
    """Dashcards for PUT /api/dashboard/:id; negative ids tell Metabase they are new."""
    dashcards: list[JsonObject] = []
    for index, card in enumerate(dashboard.cards):
        dashcard: JsonObject = {
            "id": -(index + 1),
            "row": card.row,
            "col": card.col,
            "size_x": card.width,
            "size_y": card.height,
            "series": [],
            "parameter_mappings": [],
        }
        if card.question is None:
            dashcard["card_id"] = None
            dashcard["visualization_settings"] = {
                "virtual_card": dict(TEXT_CARD_VIRTUAL),
                "text": card.text,
            }
        else:
            card_id = card_ids[card.question]
            dashcard["card_id"] = card_id
            dashcard["visualization_settings"] = {}
            dashcard["parameter_mappings"] = [
                {
                    "parameter_id": dashboard_parameter_id(dashboard.name, slug),
                    "card_id": card_id,
                    "target": ["variable", ["template-tag", tag_name]],
                }
                for slug, tag_name in sorted(card.filters.items())
            ]
        dashcards.append(dashcard)
    return dashcards


def dashboard_payload(dashboard: DashboardDefinition, *, collection_id: int) -> JsonObject:
    """The dashboard's own fields, for POST and PUT /api/dashboard."""
    return {
        "name": dashboard.name,
        "description": dashboard.description or None,
        "collection_id": collection_id,
        "parameters": [dashboard_parameter_payload(dashboard, p) for p in dashboard.parameters],
    }


def _layout_key(dashcard: Mapping[str, Any]) -> tuple[Any, ...]:
    settings = dashcard.get("visualization_settings") or {}
    text = settings.get("text") if dashcard.get("card_id") is None else None
    mappings = sorted(
        (
            str(mapping.get("parameter_id")),
            mapping.get("card_id"),
            repr(mapping.get("target")),
        )
        for mapping in dashcard.get("parameter_mappings") or []
    )
    return (
        dashcard.get("row"),
        dashcard.get("col"),
        dashcard.get("size_x"),
        dashcard.get("size_y"),
        dashcard.get("card_id"),
        text,
        tuple(mappings),
    )


def stored_dashcards(dashboard: Mapping[str, Any]) -> list[JsonObject]:
    """The dashcards of GET /api/dashboard/:id (`ordered_cards` before v0.47)."""
    cards = dashboard.get("dashcards")
    if cards is None:
        cards = dashboard.get("ordered_cards", [])
    return [card for card in cards if isinstance(card, dict)]


def dashboard_differences(
    desired: JsonObject, desired_dashcards: list[JsonObject], actual: JsonObject
) -> list[str]:
    """Names of the parts of a stored dashboard that differ from the definition."""
    differences: list[str] = []
    for field in ("name", "collection_id"):
        if desired[field] != actual.get(field):
            differences.append(field)
    if (desired["description"] or None) != (actual.get("description") or None):
        differences.append("description")
    stored_parameters = actual.get("parameters") or []
    if not _is_subset(desired["parameters"], stored_parameters):
        differences.append("parameters")
    wanted_layout = sorted(map(_layout_key, desired_dashcards), key=repr)
    stored_layout = sorted(map(_layout_key, stored_dashcards(actual)), key=repr)
    if wanted_layout != stored_layout:
        differences.append("dashcards")
    if actual.get("archived"):
        differences.append("archived")
    return differences
