"""Settings of the Metabase provisioner, from the environment (and `.env`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from producers.env_settings import EnvSettings


class MetabaseSettings(EnvSettings):
    """Where Metabase is, who its admin is, and how it reaches ClickHouse (read-only)."""

    model_config = SettingsConfigDict(env_prefix="METABASE_")

    url: str = Field(default="http://localhost:3000", description="Metabase base URL.")
    admin_email: str = "admin@example.com"
    """Admin created on the first run, and used to log in afterwards."""
    admin_password: SecretStr = Field(
        default=SecretStr("crypto-stream-admin1-local-only"),
        description="Admin password; the default is for a local laptop stack only.",
    )
    admin_first_name: str = "Crypto"
    """Admin's first name."""
    admin_last_name: str = "Admin"
    """Admin's last name."""
    site_name: str = "Crypto stream"
    """Metabase site name."""

    database_name: str = Field(
        default="ClickHouse crypto", description="Name of the ClickHouse connection in Metabase."
    )
    clickhouse_host: str = "clickhouse"
    """ClickHouse host as Metabase (a container) reaches it."""
    clickhouse_port: int = 8123
    """ClickHouse HTTP port as Metabase reaches it."""
    clickhouse_database: str = "crypto"
    """Database of the connection."""
    # The read-only user of clickhouse/users.d/crypto_users.xml (profile readonly=2: it reads
    # crypto.* and may still set the session settings Metabase's driver sends).
    clickhouse_user: str = "metabase"
    """Read-only ClickHouse user of the connection."""
    # The variable ClickHouse itself reads (clickhouse/users.d/crypto_users.xml): one name.
    clickhouse_password: SecretStr = Field(
        default=SecretStr("metabase-local-only"),
        validation_alias=AliasChoices("CLICKHOUSE_METABASE_PASSWORD"),
        description="Password of ClickHouse's read-only user `metabase`.",
    )
    clickhouse_ssl: bool = False
    """HTTPS to ClickHouse."""

    definitions_dir: Path = Field(
        default=Path("metabase"), description="Directory of the dashboards-as-code files."
    )
    http_timeout_seconds: float = Field(default=60.0, gt=0)
    """Timeout of one API call."""
    http_attempts: int = Field(default=5, ge=1, le=20, description="Tries per API call.")
    retry_wait_seconds: float = Field(
        default=1.0, ge=0, description="First back-off; doubles up to 30 s."
    )
    health_timeout_seconds: float = Field(
        default=600.0, ge=0, description="How long to wait for /api/health to answer ok."
    )
    public_url: str = Field(
        default="http://localhost:3000", description="Base of the dashboard links printed."
    )
