"""One ClickHouse version, tested and shipped: the server image of compose.yaml and the engine
the tests run (chDB here, the same image where Docker answers) stay within one minor release.

ClickHouse versions are YY.M (a release a month; LTS lines at .3 and .8), so "one minor" is
one month of releases: 26.8 and 26.9 are neighbours, so are 26.12 and 27.1.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from tests.support.compose_env import REPO_ROOT
from tests.support.images import compose_image

MAX_MINOR_DRIFT = 1
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)*(?:[-.].*)?$")


def release_index(version: str) -> int:
    """Months since year 0 of a ClickHouse version or image tag (``26.8``, ``26.9.2.1``)."""
    match = _VERSION.match(version)
    if match is None:
        raise ValueError(f"not a pinned ClickHouse version: {version!r}")
    year, month = int(match.group(1)), int(match.group(2))
    return year * 12 + month


def image_tag() -> str:
    return compose_image("clickhouse").rsplit(":", 1)[1]


def test_release_index_counts_months_across_years() -> None:
    assert release_index("26.9.2.1") - release_index("26.8") == 1
    assert release_index("27.1") - release_index("26.12") == 1
    assert release_index("26.8-alpine") == release_index("26.8.5.1")
    for unpinned in ("latest", "head", "26"):
        with pytest.raises(ValueError, match="not a pinned"):
            release_index(unpinned)


def test_compose_pins_the_server_to_an_lts_line() -> None:
    tag = image_tag()
    assert release_index(tag) % 12 in {3, 8}, f"{tag} is not a .3 or .8 LTS line"


def test_the_test_engine_is_pinned_exactly_within_one_minor_of_the_image() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    requirements = [
        requirement
        for group in pyproject["project"]["optional-dependencies"].values()
        for requirement in group
    ] + pyproject["project"]["dependencies"]
    engines = [r for r in requirements if re.match(r"chdb(-core)?\b", r)]
    assert engines, "the test engine is not among the dependencies"
    for requirement in engines:
        name, _, version = requirement.partition("==")
        assert version, f"{requirement} is not an exact pin"
        if name == "chdb-core":  # its version is the embedded engine's YY.M
            assert abs(release_index(version) - release_index(image_tag())) <= MAX_MINOR_DRIFT


def test_the_engine_under_test_is_within_one_minor_of_the_image(clickhouse: Any) -> None:
    engine = str(clickhouse.command("SELECT version()"))
    drift = abs(release_index(engine) - release_index(image_tag()))
    assert drift <= MAX_MINOR_DRIFT, (
        f"tests run ClickHouse {engine} but compose.yaml ships {compose_image('clickhouse')}: "
        "pin both on the same line (pyproject.toml chdb-core, compose.yaml CLICKHOUSE_IMAGE)"
    )
