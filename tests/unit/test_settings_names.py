"""One name per setting: every variable that compose.yaml, .env.example, the Makefile or the docs
name is read by a settings model, under that exact name, with the same default; and the
generated settings tables are up to date."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from producers.env_settings import STACK_CLICKHOUSE_URL
from provisioning import preflight
from provisioning.ksqldb import LEDGER_STREAM
from provisioning.settings_doc import (
    README,
    SECTIONS,
    SETTINGS_DOC,
    plain_default,
    readme_with_table,
    settings_doc,
    variables,
)
from provisioning.stack_settings import StackSettings
from tests.support.compose_env import (
    COMPOSE_FILE,
    REPO_ROOT,
    env_example,
    raw_compose,
    variable_uses,
)

MODEL_VARIABLES = {variable.name: variable for variable in variables()}
OUR_PREFIXES = (
    "COINS_",
    "KSQLDB_",
    "METABASE_",
    "VERIFY_",
    "HEALTHCHECK_",
    "CLICKHOUSE_",
    "KAFKA_",
)
# Variables of the test suite (docs/testing.md), not of the product.
TEST_SUITE_VARIABLES = {"KAFKA_BOOTSTRAP", "CLICKHOUSE_URL"}
# make's own variables (`make verify VERIFY_ARGS=...`) and ksqlDB's object names.
MAKE_VARIABLES = set(re.findall(r"\$\(([A-Z][A-Z0-9_]*)\)", (REPO_ROOT / "Makefile").read_text()))
KSQLDB_OBJECTS = {
    name.upper()
    for path in (REPO_ROOT / "ksqldb").glob("*.sql")
    for name in re.findall(r"(?:STREAM|TABLE) IF NOT EXISTS (\w+)", path.read_text())
} | {LEDGER_STREAM}
DOCS = sorted(
    [REPO_ROOT / "README.md", *(REPO_ROOT / "docs").glob("*.md"), *REPO_ROOT.glob("*/README.md")]
)
NAME_IN_TEXT = re.compile(r"\b((?:" + "|".join(OUR_PREFIXES) + r")[A-Z0-9_]*)(?![A-Za-z0-9_*])")


def _app_services() -> dict[str, dict[str, object]]:
    """Services running the app image: their environment is read by our settings models."""
    services = raw_compose()["services"]
    return {
        name: service
        for name, service in services.items()
        if str(service.get("image", "")).startswith("${APP_IMAGE")
    }


def _third_party_environment() -> set[str]:
    """Variables compose gives the upstream images (Kafka, ClickHouse, ksqlDB, Metabase)."""
    services = raw_compose()["services"]
    app = _app_services()
    return {
        key
        for name, service in services.items()
        if name not in app
        for key in (service.get("environment") or {})
    }


def test_every_model_field_has_a_description_and_one_variable() -> None:
    names = [variable.name for variable in variables()]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"declared twice: {duplicates}"
    assert len(names) > 100  # every model is listed in provisioning/settings_doc.SECTIONS


def test_every_settings_model_is_in_the_settings_doc() -> None:
    listed = {section.model for section in SECTIONS}
    modules = ("producers", "provisioning", "alerts", "embedded", "terminal", "portfolio")
    for module in modules:
        for path in (REPO_ROOT / module).rglob("*.py"):
            for name in re.findall(r"^class (\w+)\((?:\w*Settings)\):", path.read_text(), re.M):
                if name == "EnvSettings":
                    continue  # the common base: no field of its own
                found = [m for m in listed if m.__name__ == name]
                assert found, f"{path.relative_to(REPO_ROOT)}: {name} is not in SECTIONS"


def test_durations_in_seconds_end_in_seconds() -> None:
    for variable in variables():
        assert not re.search(r"_S$|_SECS?$|_TIMEOUT$", variable.name), variable.name


def test_docs_settings_md_and_the_readme_table_are_generated_from_the_models() -> None:
    assert SETTINGS_DOC.read_text(encoding="utf-8") == settings_doc(), (
        "docs/settings.md is stale: run `make settings-doc`"
    )
    readme = README.read_text(encoding="utf-8")
    assert readme == readme_with_table(readme), "README.md is stale: run `make settings-doc`"


def test_compose_interpolates_only_model_variables_with_the_model_default() -> None:
    for use in variable_uses(COMPOSE_FILE.read_text()):
        assert use.name in MODEL_VARIABLES, f"compose.yaml reads ${{{use.name}}}: no model does"
        assert use.default == (MODEL_VARIABLES[use.name].default or ""), use.name


def test_compose_passes_app_containers_only_model_variables_under_their_own_name() -> None:
    for name, service in _app_services().items():
        for key, value in (service.get("environment") or {}).items():  # type: ignore[attr-defined]
            assert key in MODEL_VARIABLES, f"service {name}: {key} is read by no model"
            for use in variable_uses(str(value)):
                # `KEY: ${OTHER_NAME}` would make OTHER_NAME in .env mean KEY in the container
                # only; a URL built from passwords and ports is the one allowed composition.
                if use.name in MODEL_VARIABLES and not use.name.endswith(("PASSWORD", "PORT")):
                    assert use.name == key, f"service {name}: {key} renamed from {use.name}"


def test_every_compose_only_variable_is_interpolated_by_compose() -> None:
    used = {use.name for use in variable_uses(COMPOSE_FILE.read_text())}
    for name in StackSettings.model_fields:
        assert name.upper() in used, f"StackSettings.{name} is read by nothing"


def test_env_example_names_model_variables_with_their_defaults() -> None:
    for name, value in env_example().items():
        assert name in MODEL_VARIABLES, f".env.example sets {name}: no model reads it"
        assert value == (MODEL_VARIABLES[name].default or ""), name


def test_the_makefile_names_only_model_variables() -> None:
    text = (REPO_ROOT / "Makefile").read_text()
    names = set(re.findall(r"\$\$\{([A-Z][A-Z0-9_]*)", text))
    names |= set(re.findall(r"^\s*([A-Z][A-Z0-9_]*)=\"", text, re.M))
    assert names, "the Makefile's recipes were not read"
    for name in sorted(names):
        assert name in MODEL_VARIABLES, f"the Makefile sets or reads {name}: no model does"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_docs_name_only_real_variables(path: Path) -> None:
    allowed = set(MODEL_VARIABLES) | _third_party_environment() | TEST_SUITE_VARIABLES
    allowed |= MAKE_VARIABLES | KSQLDB_OBJECTS
    for name in NAME_IN_TEXT.findall(path.read_text(encoding="utf-8")):
        if name.endswith("_"):
            continue  # a family, such as COINS_TOPIC_*
        assert name in allowed, f"{path.relative_to(REPO_ROOT)} names {name}: nothing reads it"


def test_preflight_checks_the_host_ports_compose_publishes() -> None:
    # preflight.py runs before the virtualenv exists (standard library only): its copy of the
    # port list is held to the model here.
    ports = {
        variable.name: int(variable.default or 0)
        for variable in variables()
        if variable.section.model is StackSettings and variable.name.endswith("_HOST_PORT")
    }
    assert dict(preflight.HOST_PORTS) == ports


def test_every_model_reads_dot_env_and_hides_input_in_errors() -> None:
    for section in SECTIONS:
        config = section.model.model_config
        assert issubclass(section.model, BaseSettings)
        assert config.get("env_file") == ".env", section.model.__name__
        assert config.get("hide_input_in_errors") is True, section.model.__name__


def test_plain_default_writes_values_as_dot_env_does() -> None:
    assert plain_default(5.0) == "5"
    assert plain_default(0.9) == "0.9"
    assert plain_default(("BTC", "ETH")) == "BTC,ETH"
    assert plain_default([]) == "[]"
    assert plain_default(None) is None
    assert plain_default(False) == "false"


def test_host_tools_reach_the_stack_with_no_dot_env() -> None:
    # Every host-side default points at the port compose.yaml publishes on 127.0.0.1.
    ports = {
        name: int(variable.default or 0)
        for name, variable in MODEL_VARIABLES.items()
        if name.endswith("_HOST_PORT")
    }
    published = {
        "COINS_KAFKA_BOOTSTRAP_SERVERS": f"localhost:{ports['KAFKA_HOST_PORT']}",
        "KSQLDB_URL": f"http://localhost:{ports['KSQLDB_HOST_PORT']}",
        "METABASE_URL": f"http://localhost:{ports['METABASE_HOST_PORT']}",
        "METABASE_PUBLIC_URL": f"http://localhost:{ports['METABASE_HOST_PORT']}",
    }
    for name, default in published.items():
        assert MODEL_VARIABLES[name].default == default, name
    admin = MODEL_VARIABLES["CLICKHOUSE_ADMIN_PASSWORD"].default
    assert (
        f"http://admin:{admin}@localhost:{ports['CLICKHOUSE_HTTP_HOST_PORT']}"
    ) == STACK_CLICKHOUSE_URL
