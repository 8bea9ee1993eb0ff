"""Metabase's native-query template rules, as the tests use them to run the cards' SQL."""

from __future__ import annotations

import pytest

from provisioning.metabase.sql_template import (
    render,
    sql_literal,
    tags_outside_optional_clauses,
    template_tags,
)

SQL = "SELECT * FROM t WHERE code = {{coin}} [[AND day >= today() - {{ days }}]] LIMIT 5"


def test_tags_are_listed_in_order_once() -> None:
    assert template_tags(SQL + " {{coin}}") == ["coin", "days"]
    assert tags_outside_optional_clauses(SQL) == {"coin"}


def test_text_is_quoted_and_numbers_are_bare() -> None:
    assert render(SQL, {"coin": "BTC", "days": 30}) == (
        "SELECT * FROM t WHERE code = 'BTC' AND day >= today() - 30 LIMIT 5"
    )


def test_an_optional_clause_without_a_value_is_dropped() -> None:
    assert render(SQL, {"coin": "ETH"}) == "SELECT * FROM t WHERE code = 'ETH'  LIMIT 5"


def test_a_mandatory_variable_without_a_value_is_an_error() -> None:
    with pytest.raises(KeyError, match="coin"):
        render(SQL, {"days": 3})


def test_quotes_cannot_break_out_of_the_literal() -> None:
    assert sql_literal("O'Brien\\") == "'O\\'Brien\\\\'"
    assert sql_literal(2.5) == "2.5"
    with pytest.raises(TypeError):
        sql_literal(True)
