"""The variables compose.yaml itself reads (images, host ports, memory, passwords).

No program of ours reads them at run time: compose interpolates them into the services. They
are declared here, with the default compose writes after ``:-``, so that docs/settings.md lists
them with every other setting and a test holds compose.yaml, .env.example and the preflight's
port list to the same names and defaults.
"""

from __future__ import annotations

from pydantic import SecretStr

from producers.env_settings import EnvSettings


class StackSettings(EnvSettings):
    """Every field maps to the variable of the same name in upper case (no prefix)."""

    # ---- image versions (pinned) ----------------------------------------------------------
    kafka_image: str = "apache/kafka:4.1.1"
    """Apache Kafka broker image (KRaft, single node); the test fixtures start the same."""
    ksqldb_image: str = "confluentinc/cp-ksqldb-server:8.0.0"
    """ksqlDB server image (Confluent Platform 8, runs on Kafka 4)."""
    clickhouse_image: str = "clickhouse/clickhouse-server:26.8"
    """ClickHouse server image, 26.8 LTS line (chDB runs 26.9; a test keeps them within one
    minor version)."""
    metabase_image: str = "metabase/metabase:v0.56.8"
    """Metabase image (bundles the ClickHouse driver; the provisioner targets v0.56)."""
    python_image: str = "python:3.11-slim-bookworm"
    """Base image of the app image (producers, ksqlDB applier, provisioner)."""
    app_image: str = "crypto-stream/app:local"
    """Name and tag of the app image built from the Dockerfile."""

    # ---- host ports (127.0.0.1 only) ------------------------------------------------------
    kafka_host_port: int = 9094
    """Kafka for programs on this machine (bootstrap localhost:9094; containers use
    kafka:9092)."""
    ksqldb_host_port: int = 8088
    """ksqlDB REST API (http://localhost:8088)."""
    clickhouse_http_host_port: int = 8123
    """ClickHouse HTTP (http://localhost:8123, clickhouse-connect)."""
    clickhouse_native_host_port: int = 9000
    """ClickHouse native protocol (clickhouse-client)."""
    metabase_host_port: int = 3000
    """Metabase (http://localhost:3000)."""

    # ---- Kafka, ksqlDB, Metabase JVMs -----------------------------------------------------
    kafka_cluster_id: str = "MkU3OEVBNTcwNTJENDM2Qg"
    """KRaft cluster id (22-character base64 UUID); only read when the data volume is
    formatted."""
    kafka_heap_max: str = "1g"
    """Maximum JVM heap of the broker (-Xmx)."""
    ksqldb_heap_max: str = "1g"
    """Maximum JVM heap of the ksqlDB server (-Xmx)."""
    ksqldb_commit_interval_ms: int = 2000
    """How often window updates leave ksqlDB; lower = fresher dashboards, more messages."""
    metabase_java_opts: str = "-Xmx1g"
    """JVM options of Metabase."""

    # ---- ClickHouse -----------------------------------------------------------------------
    clickhouse_admin_password: SecretStr = SecretStr("admin-local-only")
    """Password of the administrator `admin` (runs clickhouse/init; the name is fixed because
    clickhouse/users.d/crypto_users.xml grants it the named collections). Local-only default:
    change it."""
    clickhouse_ingest_password: SecretStr = SecretStr("ingest-local-only")
    """Password of user `ingest` (read/write on crypto.*). Local-only default: change it."""
    clickhouse_kafka_group_prefix: str = "clickhouse"
    """Prefix of the consumer groups of ClickHouse's Kafka tables (<prefix>_<topic>). A new
    prefix re-reads every topic from the start (the tables deduplicate)."""
