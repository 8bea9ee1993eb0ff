"""The dashboards-as-code model: collections, questions and dashboards as readable YAML files.

Everything refers to everything else by name (a question names its collection, a dashboard
card names its question, a filter names a question's template variable), never by Metabase
id, so the same files provision any Metabase instance.

Layout of the definitions directory::

    collections/*.yaml   one collection per file
    questions/**/*.yaml  one native-SQL question per file
    dashboards/*.yaml    one dashboard per file
    schema/*.json        JSON Schemas of the three kinds (generated from these models)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from provisioning.metabase.sql_template import tags_outside_optional_clauses, template_tags

ModelT = TypeVar("ModelT", bound=BaseModel)

GRID_COLUMNS = 24
"""Metabase dashboards are laid out on a 24-column grid."""

Name = Annotated[str, Field(min_length=1, max_length=254, pattern=r"\S")]
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]

Display = Literal[
    "table",
    "line",
    "area",
    "bar",
    "combo",
    "row",
    "scatter",
    "pie",
    "scalar",
    "smartscalar",
    "progress",
    "gauge",
    "waterfall",
    "funnel",
    "pivot",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CollectionDefinition(_Strict):
    """A Metabase collection (a folder of questions and dashboards)."""

    name: Name
    description: str = ""
    parent: Name | None = Field(
        default=None, description="Name of the parent collection; omitted for a top-level one."
    )


class TemplateTag(_Strict):
    """A `{{variable}}` of a native query, shown as a filter widget."""

    name: Identifier
    display_name: Name
    type: Literal["text", "number"] = "text"
    default: str | int | float | None = Field(
        default=None, description="Value used when no filter value is given."
    )
    required: bool = False


class QuestionDefinition(_Strict):
    """A saved native-SQL question (a Metabase card)."""

    name: Name
    collection: Name
    description: str = ""
    display: Display
    sql: Annotated[str, Field(min_length=1)] = Field(
        description="ClickHouse SQL; `{{var}}` variables and `[[ ... ]]` optional clauses."
    )
    parameters: list[TemplateTag] = Field(default_factory=list)
    visualization_settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _variables_match_parameters(self) -> QuestionDefinition:
        used = set(template_tags(self.sql))
        declared = {tag.name for tag in self.parameters}
        if used != declared:
            raise ValueError(
                f"question {self.name!r}: SQL variables {sorted(used)} do not match "
                f"declared parameters {sorted(declared)}"
            )
        for tag in self.parameters:
            mandatory = tag.name in tags_outside_optional_clauses(self.sql)
            if mandatory and tag.default is None:
                raise ValueError(
                    f"question {self.name!r}: variable {tag.name!r} is used outside an optional "
                    "[[ ... ]] clause, so it needs a default"
                )
        if self.sql.rstrip().endswith(";"):
            raise ValueError(f"question {self.name!r}: remove the trailing semicolon")
        return self

    def tag(self, name: str) -> TemplateTag | None:
        return next((tag for tag in self.parameters if tag.name == name), None)


class DashboardParameter(_Strict):
    """A dashboard filter widget; cards connect it to their template variables."""

    slug: Identifier
    name: Name
    type: Literal["string/=", "number/="] = "string/="
    default: str | int | float | None = None
    values: list[str] | None = Field(
        default=None, description="Fixed list of choices offered by the widget."
    )
    required: bool = False


class DashboardCard(_Strict):
    """One tile on the 24-column grid: a question, or a Markdown text card."""

    question: Name | None = None
    text: str | None = Field(default=None, description="Markdown of a text card.")
    row: int = Field(ge=0)
    col: int = Field(ge=0, lt=GRID_COLUMNS)
    width: int = Field(ge=1, le=GRID_COLUMNS)
    height: int = Field(ge=1, le=60)
    filters: dict[Identifier, Identifier] = Field(
        default_factory=dict,
        description="Dashboard parameter slug -> template variable of the question.",
    )

    @model_validator(mode="after")
    def _question_xor_text(self) -> DashboardCard:
        if (self.question is None) == (self.text is None):
            raise ValueError("a dashboard card has exactly one of `question` and `text`")
        if self.text is not None and self.filters:
            raise ValueError("a text card cannot have filters")
        if self.col + self.width > GRID_COLUMNS:
            raise ValueError(
                f"card at col {self.col} with width {self.width} overflows the "
                f"{GRID_COLUMNS}-column grid"
            )
        return self

    def overlaps(self, other: DashboardCard) -> bool:
        return not (
            self.col + self.width <= other.col
            or other.col + other.width <= self.col
            or self.row + self.height <= other.row
            or other.row + other.height <= self.row
        )


class DashboardDefinition(_Strict):
    """A dashboard: filters, and cards laid out on the grid."""

    name: Name
    collection: Name
    description: str = ""
    auto_refresh_seconds: int | None = Field(
        default=None,
        ge=60,
        description="Metabase refreshes a dashboard opened with #refresh=N; links use it.",
    )
    parameters: list[DashboardParameter] = Field(default_factory=list)
    cards: list[DashboardCard] = Field(min_length=1)

    @model_validator(mode="after")
    def _layout_and_filters(self) -> DashboardDefinition:
        slugs = [parameter.slug for parameter in self.parameters]
        if len(set(slugs)) != len(slugs):
            raise ValueError(f"dashboard {self.name!r}: duplicate parameter slugs")
        for index, card in enumerate(self.cards):
            unknown = set(card.filters) - set(slugs)
            if unknown:
                raise ValueError(
                    f"dashboard {self.name!r}: card {index} maps unknown parameters {unknown}"
                )
            for other in self.cards[index + 1 :]:
                if card.overlaps(other):
                    raise ValueError(
                        f"dashboard {self.name!r}: cards at row {card.row} col {card.col} and "
                        f"row {other.row} col {other.col} overlap"
                    )
        return self


class DefinitionError(ValueError):
    """The definition files are inconsistent or invalid; the message names the file."""


class Definitions(BaseModel):
    """Every definition, checked for consistency across files."""

    model_config = ConfigDict(frozen=True)

    collections: list[CollectionDefinition]
    questions: list[QuestionDefinition]
    dashboards: list[DashboardDefinition]
    sources: dict[str, Path] = Field(
        default_factory=dict, description="'<kind>:<name>' -> the file it was loaded from"
    )

    def question(self, name: str) -> QuestionDefinition:
        return next(question for question in self.questions if question.name == name)

    def collection(self, name: str) -> CollectionDefinition:
        return next(collection for collection in self.collections if collection.name == name)

    def collections_parents_first(self) -> list[CollectionDefinition]:
        ordered: list[CollectionDefinition] = []
        placed: set[str] = set()
        remaining = list(self.collections)
        while remaining:
            ready = [c for c in remaining if c.parent is None or c.parent in placed]
            if not ready:
                raise DefinitionError("collections have a parent cycle")
            for collection in ready:
                ordered.append(collection)
                placed.add(collection.name)
                remaining.remove(collection)
        return ordered

    @model_validator(mode="after")
    def _references_resolve(self) -> Definitions:
        problems: list[str] = []
        for kind, names in (
            ("collection", [c.name for c in self.collections]),
            ("question", [q.name for q in self.questions]),
            ("dashboard", [d.name for d in self.dashboards]),
        ):
            duplicates = sorted({name for name in names if names.count(name) > 1})
            if duplicates:
                problems.append(f"duplicate {kind} names: {duplicates}")
        collection_names = {c.name for c in self.collections}
        for collection in self.collections:
            if collection.parent is not None and collection.parent not in collection_names:
                problems.append(
                    f"collection {collection.name!r}: unknown parent {collection.parent!r}"
                )
        questions = {q.name: q for q in self.questions}
        for question in self.questions:
            if question.collection not in collection_names:
                problems.append(
                    f"question {question.name!r}: unknown collection {question.collection!r}"
                )
        for dashboard in self.dashboards:
            if dashboard.collection not in collection_names:
                problems.append(
                    f"dashboard {dashboard.name!r}: unknown collection {dashboard.collection!r}"
                )
            for card in dashboard.cards:
                if card.question is None:
                    continue
                target = questions.get(card.question)
                if target is None:
                    problems.append(
                        f"dashboard {dashboard.name!r}: unknown question {card.question!r}"
                    )
                    continue
                for slug, tag_name in card.filters.items():
                    if target.tag(tag_name) is None:
                        problems.append(
                            f"dashboard {dashboard.name!r}: filter {slug!r} targets "
                            f"{tag_name!r}, not a variable of question {target.name!r}"
                        )
        if problems:
            raise DefinitionError("; ".join(problems))
        return self


KINDS: dict[str, type[BaseModel]] = {
    "collections": CollectionDefinition,
    "questions": QuestionDefinition,
    "dashboards": DashboardDefinition,
}


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise DefinitionError(f"{path}: not valid YAML: {error}") from error


def _load_kind(
    directory: Path, kind: str, model: type[ModelT], sources: dict[str, Path]
) -> list[ModelT]:
    loaded: list[ModelT] = []
    for path in sorted((directory / kind).rglob("*.yaml")):
        try:
            item = model.model_validate(read_yaml(path))
        except ValueError as error:
            raise DefinitionError(f"{path}: {error}") from error
        sources[f"{kind}:{getattr(item, 'name', path.stem)}"] = path
        loaded.append(item)
    return loaded


def load_definitions(directory: Path) -> Definitions:
    """Read and cross-check every definition file under `directory`."""
    if not directory.is_dir():
        raise DefinitionError(f"definitions directory {directory} does not exist")
    sources: dict[str, Path] = {}
    collections = _load_kind(directory, "collections", CollectionDefinition, sources)
    questions = _load_kind(directory, "questions", QuestionDefinition, sources)
    dashboards = _load_kind(directory, "dashboards", DashboardDefinition, sources)
    try:
        return Definitions(
            collections=collections, questions=questions, dashboards=dashboards, sources=sources
        )
    except ValueError as error:
        raise DefinitionError(f"{directory}: {error}") from error
