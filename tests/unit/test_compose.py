"""compose.yaml, .env.example, Dockerfile: the rules of the stack, checked without Docker."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import jsonschema
import pytest

from tests.support.compose_env import (
    COMPOSE_FILE,
    REPO_ROOT,
    env_example,
    interpolate,
    load_compose,
    raw_compose,
    variable_uses,
)

# The official schema travels with the repository, so every clone validates with it; the
# digest of its content (keys sorted) pins it, and the shared/ copy beside a clone, where there
# is one, must be the same.
SCHEMA_FILE = REPO_ROOT / "tests" / "support" / "schemas" / "compose-spec.json"
SCHEMA_SHA256 = "c6c9c6e88c07f5be3c240206708aa3c6555bfbd5b220f25d4f5350962a1b50fb"
SHARED_SCHEMA_FILE = REPO_ROOT.parent / "shared" / "schemas" / "compose-spec.json"
COMPOSE = load_compose()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
RAW_SERVICES: dict[str, dict[str, Any]] = raw_compose()["services"]
PINNED_IMAGE = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+_IMAGE):-(?P<image>[^}]+)\}$")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|API_KEY|TOKEN")


def is_one_shot(service: dict[str, Any]) -> bool:
    """One-shot jobs say so with ``restart: "no"``; every other service runs for good."""
    return str(service.get("restart", "no")) == "no"


LONG_RUNNING = sorted(name for name, service in SERVICES.items() if not is_one_shot(service))
ONE_SHOT = sorted(name for name, service in SERVICES.items() if is_one_shot(service))


def _dependencies(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    depends_on = service.get("depends_on") or {}
    assert isinstance(depends_on, dict), "use the long form of depends_on, with a condition"
    return depends_on


def _bind_mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of every bind mount (a source that is a path)."""
    mounts = []
    for volume in service.get("volumes", []) or []:
        if isinstance(volume, dict):
            source, target = str(volume.get("source", "")), str(volume["target"])
            read_only = bool(volume.get("read_only"))
            kind = volume.get("type", "volume")
            if kind != "bind":
                continue
        else:
            parts = str(volume).split(":")
            source, target = parts[0], parts[1]
            read_only = len(parts) > 2 and "ro" in parts[2].split(",")
            if not source.startswith((".", "/")):
                continue
        mounts.append((source, target, read_only))
    return mounts


def _compose_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA_FILE.read_text()))


def test_the_vendored_schema_is_the_shared_compose_specification() -> None:
    vendored = json.loads(SCHEMA_FILE.read_text())
    digest = hashlib.sha256(json.dumps(vendored, sort_keys=True).encode()).hexdigest()
    assert digest == SCHEMA_SHA256, (
        f"{SCHEMA_FILE} changed: copy shared/schemas/compose-spec.json there and pin its digest"
    )
    if SHARED_SCHEMA_FILE.exists():  # beside the clone on the team's machine, not on GitHub
        assert vendored == json.loads(SHARED_SCHEMA_FILE.read_text())


def test_compose_validates_against_the_compose_specification() -> None:
    errors = [error.message for error in _compose_validator().iter_errors(COMPOSE)]
    assert errors == []


def test_the_schema_check_catches_a_wrong_condition() -> None:
    broken = load_compose()
    broken["services"]["clickhouse"]["depends_on"]["topics"]["condition"] = "done"
    assert list(_compose_validator().iter_errors(broken))


def test_project_has_a_name() -> None:
    assert COMPOSE["name"] == "crypto-stream"


def test_expected_services() -> None:
    assert {
        "kafka",
        "topics",
        "ksqldb-server",
        "ksqldb-init",
        "clickhouse",
        "producer",
        "backfill",
    } <= set(SERVICES)


@pytest.mark.parametrize("name", sorted(RAW_SERVICES))
def test_every_image_is_pinned_through_a_variable_with_a_default(name: str) -> None:
    image = RAW_SERVICES[name]["image"]
    match = PINNED_IMAGE.match(image)
    assert match, f"{name}: image must be ${{NAME_IMAGE:-repository:tag}}, got {image!r}"
    default = match.group("image")
    repository, _, tag = default.rpartition(":")
    assert repository, f"{name}: default image {default!r} has no repository"
    assert tag, f"{name}: default image {default!r} has no tag"
    assert tag != "latest"


def test_no_latest_anywhere() -> None:
    assert ":latest" not in COMPOSE_FILE.read_text()
    assert "latest" not in env_example().get("KAFKA_IMAGE", "")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_declares_whether_it_is_a_one_shot_job(name: str) -> None:
    restart = SERVICES[name].get("restart")
    assert restart in {"no", "unless-stopped", "always", "on-failure"}, (
        f'{name}: declare restart: "no" for a one-shot job, "unless-stopped" for a service'
    )


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_service_has_a_healthcheck(name: str) -> None:
    healthcheck = SERVICES[name].get("healthcheck")
    assert healthcheck, name
    assert not healthcheck.get("disable"), name
    assert healthcheck["test"][0] in {"CMD", "CMD-SHELL"}
    for field in ("interval", "timeout", "retries"):
        assert field in healthcheck, f"{name}: healthcheck without {field}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_dependency_conditions_match_the_dependency(name: str) -> None:
    for target, dependency in _dependencies(SERVICES[name]).items():
        assert target in SERVICES, f"{name} depends on unknown {target}"
        condition = dependency.get("condition")
        if is_one_shot(SERVICES[target]):
            assert condition == "service_completed_successfully", (name, target)
        elif condition == "service_healthy":
            assert "healthcheck" in SERVICES[target], (name, target)
        else:
            pytest.fail(f"{name} -> {target}: {condition} (wait for health or completion)")


@pytest.mark.parametrize("name", ONE_SHOT)
def test_every_one_shot_job_is_adopted_by_a_long_running_service(name: str) -> None:
    # `docker compose up --wait` reports an exited container as a failure unless a running
    # service waits for it with service_completed_successfully.
    adopters = [
        other
        for other in LONG_RUNNING
        if _dependencies(SERVICES[other]).get(name, {}).get("condition")
        == "service_completed_successfully"
    ]
    assert adopters, f"no long-running service adopts one-shot {name}"


def test_dependencies_have_no_cycle() -> None:
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(name: str) -> None:
        assert name not in visiting, f"dependency cycle through {name}"
        if name in done:
            return
        visiting.add(name)
        for target in _dependencies(SERVICES[name]):
            visit(target)
        visiting.remove(name)
        done.add(name)

    for name in SERVICES:
        visit(name)


def _requires(name: str) -> set[str]:
    """Every service `name` waits for, directly or not."""
    found: set[str] = set()
    pending = [name]
    while pending:
        for target in _dependencies(SERVICES[pending.pop()]):
            if target not in found:
                found.add(target)
                pending.append(target)
    return found


def longest_dependency_path(services: dict[str, dict[str, Any]]) -> list[str]:
    """The longest chain of depends_on (first started first): what serialises `up --wait`."""
    memo: dict[str, list[str]] = {}

    def chain(name: str) -> list[str]:
        if name not in memo:
            before = [chain(t) for t in (services[name].get("depends_on") or {})]
            memo[name] = [*max(before, key=len, default=[]), name]
        return memo[name]

    return max((chain(name) for name in sorted(services)), key=len)


def test_a_ksqldb_failure_stops_only_ksqldb() -> None:
    # Degrade, don't stop: nothing but the applier waits for ksqlDB, so ClickHouse, the
    # producers and Metabase start (and show the live and historical cards) without it.
    for name in SERVICES:
        if name in {"ksqldb-server", "ksqldb-init"}:
            continue
        assert not _requires(name) & {"ksqldb-server", "ksqldb-init"}, name


def test_clickhouse_starts_right_after_the_topics_and_metabase_at_once() -> None:
    assert _requires("clickhouse") == {"topics", "kafka"}
    assert _requires("metabase") == set()
    assert _requires("metabase-provision") == {"metabase", "clickhouse", "topics", "kafka"}


def test_the_longest_dependency_path_is_the_one_documented() -> None:
    path = " -> ".join(f"`{name}`" for name in longest_dependency_path(SERVICES))
    stack_doc = (REPO_ROOT / "docs" / "stack.md").read_text()
    assert f"after: {path}" in stack_doc


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_host_ports_listen_on_loopback_only(name: str) -> None:
    for port in SERVICES[name].get("ports", []) or []:
        if isinstance(port, dict):
            assert port.get("host_ip") == "127.0.0.1", (name, port)
        else:
            assert str(port).startswith("127.0.0.1:"), (name, port)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_bind_mounts_exist_and_are_read_only(name: str) -> None:
    for source, target, read_only in _bind_mounts(SERVICES[name]):
        path = (REPO_ROOT / source).resolve()
        assert path.exists(), f"{name}: mounted path {source} does not exist"
        assert read_only, f"{name}: {source} -> {target} must be mounted read-only"


def test_named_volumes_are_declared_and_hold_the_state() -> None:
    declared = set(COMPOSE.get("volumes", {}))
    used: dict[str, set[str]] = {}
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []) or []:
            source = volume.get("source") if isinstance(volume, dict) else volume.split(":")[0]
            if source and not str(source).startswith((".", "/")):
                used.setdefault(name, set()).add(str(source))
                assert source in declared, f"{name}: volume {source} is not declared"
    assert "kafka-data" in used["kafka"]
    assert "clickhouse-data" in used["clickhouse"]


def test_clickhouse_mounts_the_init_sql_and_its_configuration() -> None:
    targets = {target: source for source, target, _ in _bind_mounts(SERVICES["clickhouse"])}
    assert targets["/docker-entrypoint-initdb.d"] == "./clickhouse/init"
    for folder in ("config.d", "users.d"):
        for xml in sorted((REPO_ROOT / "clickhouse" / folder).glob("*.xml")):
            target = f"/etc/clickhouse-server/{folder}/{xml.name}"
            assert targets.get(target) == f"./clickhouse/{folder}/{xml.name}", target


def test_clickhouse_gets_every_variable_its_configuration_reads() -> None:
    environment = SERVICES["clickhouse"]["environment"]
    for folder in ("config.d", "users.d"):
        for xml in (REPO_ROOT / "clickhouse" / folder).glob("*.xml"):
            for variable in re.findall(r'from_env="([A-Z0-9_]+)"', xml.read_text()):
                assert environment.get(variable), f"{xml.name} reads {variable}, compose sets none"


def test_every_compose_variable_is_documented_in_env_example() -> None:
    documented = env_example()
    text = COMPOSE_FILE.read_text()
    for use in variable_uses(text):
        assert use.name in documented, (
            f"${{{use.name}}} is used in compose.yaml, not in .env.example"
        )


def test_env_example_defaults_equal_the_compose_defaults() -> None:
    documented = env_example()
    for use in variable_uses(COMPOSE_FILE.read_text()):
        assert use.default is not None, f"${{{use.name}}} has no default: make up needs none set"
        assert documented[use.name] == use.default, use.name


def test_env_example_starts_with_image_versions_and_keeps_secrets_empty_or_local() -> None:
    documented = env_example()
    names = list(documented)
    images = [name for name in names if name.endswith("_IMAGE")]
    assert names[: len(images)] == images
    for name, value in documented.items():
        if SECRET_NAME.search(name):
            assert value == "" or value.endswith("-local-only"), name


def test_env_example_values_survive_shell_sourcing() -> None:
    # `set -a; . ./.env` must give the same values compose reads: no spaces, quotes or `$`
    for name, value in env_example().items():
        assert not re.search(r"[\s'\"$`#]", value), name


def test_env_example_comments_every_setting() -> None:
    # a setting sits under a comment, alone or in a group of settings the comment describes
    under_comment = False
    for line in (REPO_ROOT / ".env.example").read_text().splitlines():
        if not line.strip():
            under_comment = False
        elif line.startswith("#"):
            under_comment = True
        else:
            assert under_comment, f"{line.split('=')[0]} has no comment above it"


def test_dockerfile_runs_as_non_root_from_a_pinned_slim_base() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.\d+-slim", dockerfile, re.MULTILINE)
    assert re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE) == ["${PYTHON_IMAGE}"] * 2
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.MULTILINE)
    assert not re.search(r"^(ENV|ARG)\s.*(PASSWORD|API_KEY|SECRET)", dockerfile, re.MULTILINE)
    build_args = RAW_SERVICES["producer"]["build"]["args"]
    assert build_args["PYTHON_IMAGE"] == "${PYTHON_IMAGE:-python:3.11-slim-bookworm}"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    patterns = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert patterns[patterns.index("*")] == "*", "allow-list: ignore everything first"
    allowed = [line[1:] for line in patterns if line.startswith("!")]
    assert not any(entry.startswith((".env", ".git", ".venv", "tests")) for entry in allowed)


def test_app_image_commands_exist_as_entry_points() -> None:
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    for name in ("producer", "backfill", "ksqldb-init", "topics"):
        command = SERVICES[name]["command"]
        assert re.search(rf'^{re.escape(command[0])} = "', pyproject, re.MULTILINE), command[0]
    assert re.search(r'^coins-healthcheck = "', pyproject, re.MULTILINE)


def test_ksqldb_init_reads_the_mounted_statements() -> None:
    service = SERVICES["ksqldb-init"]
    mounts = {target: source for source, target, _ in _bind_mounts(service)}
    assert mounts[service["environment"]["KSQLDB_STATEMENTS_DIR"]] == "./ksqldb"
    assert service["environment"]["KSQLDB_URL"] == "http://ksqldb-server:8088"


def test_containers_reach_kafka_on_the_internal_listener() -> None:
    kafka = SERVICES["kafka"]["environment"]
    assert "INTERNAL://kafka:9092" in kafka["KAFKA_ADVERTISED_LISTENERS"]
    assert SERVICES["producer"]["environment"]["COINS_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert SERVICES["ksqldb-server"]["environment"]["KSQL_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert SERVICES["clickhouse"]["environment"]["CLICKHOUSE_KAFKA_BROKER_LIST"] == "kafka:9092"


def test_interpolation_follows_compose_rules() -> None:
    overridden = load_compose({"KAFKA_HOST_PORT": "19094", "KAFKA_IMAGE": "apache/kafka:4.1.0"})
    assert overridden["services"]["kafka"]["image"] == "apache/kafka:4.1.0"
    assert overridden["services"]["kafka"]["ports"] == ["127.0.0.1:19094:9094"]
    # `$$` is a literal dollar for the container's shell
    assert interpolate('wget "http://$$(hostname):${PORT:-8123}/ping"', {}) == (
        'wget "http://$(hostname):8123/ping"'
    )


def test_test_fixtures_start_the_images_compose_pins() -> None:
    from tests.support.images import compose_image

    for service in ("kafka", "clickhouse"):
        pinned = PINNED_IMAGE.match(RAW_SERVICES[service]["image"])
        assert pinned is not None
        assert compose_image(service) == pinned.group("image")
