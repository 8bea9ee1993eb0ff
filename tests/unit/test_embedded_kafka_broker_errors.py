"""Missing Java or Maven: one clear line naming the tool, before anything is created."""

from __future__ import annotations

from pathlib import Path

import pytest

from embedded import kafka_broker
from embedded.kafka_broker import KafkaUnavailableError, NativeKafkaBroker


def test_missing_java_names_java_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    broker = NativeKafkaBroker(tmp_path / "kafka", port=kafka_broker.free_port())
    with pytest.raises(KafkaUnavailableError, match="'java' is not on PATH: install Java 17"):
        broker.start()
    assert not (tmp_path / "kafka").exists()


def test_missing_maven_names_maven_when_the_jars_are_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    java = bin_dir / "java"
    java.write_text("#!/bin/sh\nexit 0\n")
    java.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("CRYPTO_STREAM_CACHE", str(tmp_path / "cache"))
    with pytest.raises(KafkaUnavailableError, match="'mvn' is not on PATH"):
        kafka_broker.kafka_jars_dir("4.1.1")
