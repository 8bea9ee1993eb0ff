"""Metabase native-query templates: `{{tag}}` variables and `[[ ... ]]` optional clauses.

Metabase substitutes a text variable as a quoted string literal and a number variable as a
bare number; an optional clause is kept only when every variable inside it has a value.
The same rules are implemented here so the tests can run each question's SQL on ClickHouse
exactly as Metabase would send it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

TAG_PATTERN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
OPTIONAL_CLAUSE_PATTERN = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)

TemplateValue = str | int | float


def template_tags(sql: str) -> list[str]:
    """The variable names a query uses, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in TAG_PATTERN.finditer(sql):
        seen.setdefault(match.group(1), None)
    return list(seen)


def tags_outside_optional_clauses(sql: str) -> set[str]:
    """Variables a query cannot run without (those not inside a `[[ ... ]]` clause)."""
    return set(template_tags(OPTIONAL_CLAUSE_PATTERN.sub("", sql)))


def sql_literal(value: TemplateValue) -> str:
    """A value as Metabase writes it into the query: strings quoted, numbers bare."""
    if isinstance(value, bool):
        raise TypeError("boolean template values are not supported")
    if isinstance(value, int | float):
        return repr(value)
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def render(sql: str, values: Mapping[str, TemplateValue | None]) -> str:
    """The query Metabase would run for these variable values.

    Optional clauses whose variables all have a value are kept (without the brackets);
    the others are dropped. A variable outside an optional clause must have a value.
    """

    def keep_or_drop(match: re.Match[str]) -> str:
        clause = match.group(1)
        if all(values.get(name) is not None for name in template_tags(clause)):
            return clause
        return ""

    with_clauses_resolved = OPTIONAL_CLAUSE_PATTERN.sub(keep_or_drop, sql)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = values.get(name)
        if value is None:
            raise KeyError(f"template variable {{{{{name}}}}} has no value")
        return sql_literal(value)

    return TAG_PATTERN.sub(substitute, with_clauses_resolved)
