"""The one logging setup: text or JSON lines for every console script, secrets masked by the
formatter in both formats."""

from __future__ import annotations

import importlib
import io
import json
import logging
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from producers import logs
from producers.logs import LogSettings, configure_logging, hide_secrets, secret_values

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
CONSOLE_SCRIPTS = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR) \S+ ")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    yield
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


@pytest.fixture
def stream() -> io.StringIO:
    return io.StringIO()


def settings(fmt: str, level: str = "DEBUG") -> LogSettings:
    return LogSettings(log_format=fmt, log_level=level)  # type: ignore[arg-type]


def test_text_lines_carry_key_value_fields(stream: io.StringIO) -> None:
    configure_logging(settings("text", "INFO"), stream)
    logging.getLogger("producers.stream").info(
        "cycle",
        extra={
            "fields": {
                "coins_published": 10,
                "credits_left": 8123,
                "interval_s": 9.6,
                "note": "two words",
            }
        },
    )
    line = stream.getvalue().strip()
    assert line.endswith(
        'cycle coins_published=10 credits_left=8123 interval_s=9.6 note="two words"'
    )
    assert TEXT_LINE.match(line)
    assert " INFO producers.stream " in line


def test_json_lines_are_one_object_each(stream: io.StringIO) -> None:
    configure_logging(settings("json", "INFO"), stream)
    logging.getLogger("producers.stream").info("cycle", extra={"fields": {"credits_left": None}})
    record = json.loads(stream.getvalue())
    assert record["event"] == "cycle"
    assert record["credits_left"] is None
    assert record["level"] == "INFO"
    assert record["logger"] == "producers.stream"
    assert record["ts"].endswith("Z")


def test_the_level_filters_and_quiets_the_chatty_libraries(stream: io.StringIO) -> None:
    configure_logging(settings("text", "WARNING"), stream)
    logging.getLogger("producers.api").info("hidden")
    logging.getLogger("httpx").info("GET https://example.test/")
    logging.getLogger("producers.api").warning("shown")
    assert stream.getvalue().count("\n") == 1
    assert "shown" in stream.getvalue()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINS_LOG_FORMAT", "json")
    monkeypatch.setenv("COINS_LOG_LEVEL", "WARNING")
    assert LogSettings() == settings("json", "WARNING")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_registered_secrets_are_masked_in_messages_fields_and_tracebacks(
    stream: io.StringIO, fmt: str
) -> None:
    hide_secrets("sekrit-api-key-5b1f", 'pass"with\\quotes-5b1f')
    configure_logging(settings(fmt), stream)
    log = logging.getLogger("producers.api")
    log.warning("calling with %s", "sekrit-api-key-5b1f")
    log.info("request", extra={"fields": {"headers": {"x-key": "sekrit-api-key-5b1f"}}})
    log.info("login", extra={"fields": {"password": 'pass"with\\quotes-5b1f'}})
    try:
        raise RuntimeError("header x-key: sekrit-api-key-5b1f rejected")
    except RuntimeError:
        log.exception("call failed")
    text = stream.getvalue()
    assert "sekrit-api-key-5b1f" not in text
    assert "quotes-5b1f" not in text
    assert text.count(logs.MASK) >= 4
    lines = [line for line in text.splitlines() if TEXT_LINE.match(line) or line.startswith("{")]
    assert len(lines) == 4
    if fmt == "json":
        assert all(json.loads(line) for line in lines)


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("connecting to http://admin:pw-3c9e@clickhouse:8123/", "pw-3c9e"),
        ("POST https://ntfy.example/alerts?token=tk-3c9e&x=1", "tk-3c9e"),
        ("Authorization: Bearer bearer-3c9e-token", "bearer-3c9e-token"),
        ('headers {"x-api-key": "key-3c9e"}', "key-3c9e"),
        ("webhook https://hooks.slack.com/services/T01/B02/slack3c9e failed", "slack3c9e"),
        ("webhook https://discord.com/api/webhooks/123/discord-3c9e failed", "discord-3c9e"),
    ],
)
def test_secret_shaped_text_is_masked_without_registration(
    stream: io.StringIO, fmt: str, text: str, secret: str
) -> None:
    configure_logging(settings(fmt), stream)
    logging.getLogger("alerts.webhooks").warning("%s", text)
    line = stream.getvalue().strip()
    assert secret not in line
    assert logs.MASK in line
    if fmt == "json":
        assert logs.MASK in json.loads(line)["event"]


def test_secret_values_walk_nested_settings() -> None:
    class Hook(BaseModel):
        name: str
        url: SecretStr

    class Nested(BaseModel):
        api_key: SecretStr | None
        hooks: list[Hook]
        user: str

    found = secret_values(
        Nested(
            api_key=SecretStr("k1"),
            hooks=[Hook(name="team", url=SecretStr("https://h/1"))],
            user="admin",
        )
    )
    assert found == ["k1", "https://h/1"]


def test_plain_values_of_settings_are_not_secrets() -> None:
    from producers.settings import Settings

    found = secret_values(
        Settings(_env_file=None, coins="BTC,ETH", lcw_api_key=SecretStr("key-77aa"))  # type: ignore[call-arg, arg-type]
    )
    assert found == ["key-77aa"]


def test_invalid_logging_settings_are_named_and_the_command_still_logs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COINS_LOG_FORMAT", "xml")

    @logs.console_script
    def main() -> int:
        logging.getLogger("some.command").info("ran")
        return 0

    assert main() == 0
    lines = capsys.readouterr().err.splitlines()
    assert "COINS_LOG_FORMAT" in lines[0]
    assert "ERROR" in lines[0]
    assert TEXT_LINE.match(lines[1])
    assert lines[1].endswith("some.command ran")


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("script", sorted(CONSOLE_SCRIPTS))
def test_every_console_script_logs_through_the_one_setup(
    script: str,
    fmt: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    module_name, _, function = CONSOLE_SCRIPTS[script].partition(":")
    entry_point = getattr(importlib.import_module(module_name), function)
    monkeypatch.setenv("COINS_LOG_FORMAT", fmt)
    monkeypatch.setenv("COINS_LOG_LEVEL", "DEBUG")
    monkeypatch.setattr(sys, "argv", [script, "--help"])

    with pytest.raises(SystemExit) as exited:
        entry_point()  # as the installed script calls it

    assert exited.value.code == 0
    first = capsys.readouterr().err.splitlines()[0]
    if fmt == "json":
        record = json.loads(first)
        assert record["logger"] == "producers.logs"
        assert record["event"] == "command starting"
        assert record["entry_point"] == module_name
    else:
        assert TEXT_LINE.match(first)
        assert first.endswith(f"producers.logs command starting entry_point={module_name}")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_failing_command_logs_in_the_chosen_format_without_its_secrets(
    fmt: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """coins-ksql-apply against a closed port: every stderr line is in the format, the URL's
    password and the configured password are masked."""
    from provisioning.ksqldb import main

    monkeypatch.setenv("COINS_LOG_FORMAT", fmt)
    monkeypatch.setenv("COINS_LOG_LEVEL", "INFO")
    monkeypatch.setenv("KSQLDB_USERNAME", "applier")
    monkeypatch.setenv("KSQLDB_PASSWORD", "ksql-pw-81d2")

    code = main(["--url", "http://applier:ksql-pw-81d2@127.0.0.1:9", "--timeout", "0.2"])

    assert code == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2
    assert all("ksql-pw-81d2" not in line for line in lines)
    if fmt == "json":
        records = [json.loads(line) for line in lines]
        assert records[-1]["level"] == "ERROR"
        assert records[-1]["logger"] == "provisioning.ksqldb"
        assert "not applied" in records[-1]["event"]
        assert any(logs.MASK in record["event"] for record in records)
    else:
        assert all(TEXT_LINE.match(line) for line in lines)
        assert " ERROR provisioning.ksqldb ksqlDB statements not applied" in lines[-1]
