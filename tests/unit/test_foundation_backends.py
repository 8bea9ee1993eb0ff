"""Backend choice: a backend missing under CI is an error, elsewhere a skip with a remedy."""

from __future__ import annotations

import pytest

from embedded.kafka_broker import KAFKA_VERSION
from tests.support import backends
from tests.support.images import compose_image


def test_missing_backend_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and a Kafka broker is not available"):
        backends.backend_missing("a Kafka broker", "Install Java.")


def test_missing_backend_skips_with_remedy_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Install Java"):
        backends.backend_missing("a Kafka broker", "Install Java.")


def test_native_preference_never_probes_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_BACKENDS", "native")
    assert backends.docker_available() is False


def test_unknown_preference_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_BACKENDS", "podman")
    with pytest.raises(ValueError, match="TEST_BACKENDS"):
        backends.backend_preference()


def test_native_broker_runs_the_compose_kafka_version() -> None:
    image = compose_image("kafka")
    assert image.startswith("apache/kafka:")
    assert image.rsplit(":", 1)[1] == KAFKA_VERSION
    assert KAFKA_VERSION.split(".")[0] == "4"


def test_cluster_ids_never_look_like_an_option() -> None:
    from embedded.kafka_broker import new_cluster_id

    ids = {new_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(cluster) == 22 and not cluster.startswith("-") for cluster in ids)


def test_container_path_gets_the_compose_environment_at_its_defaults() -> None:
    from tests.support.containers import compose_environment, compose_mounts

    environment = compose_environment("clickhouse")
    assert (
        environment["CLICKHOUSE_KAFKA_GROUP_COINS_CURRENT_FULL"] == "clickhouse_coins_current_full"
    )
    assert environment["CLICKHOUSE_KAFKA_BROKER_LIST"] == "kafka:9092"
    targets = {target for _, target in compose_mounts("clickhouse")}
    assert "/docker-entrypoint-initdb.d" in targets
    assert all(source.exists() for source, _ in compose_mounts("clickhouse"))
