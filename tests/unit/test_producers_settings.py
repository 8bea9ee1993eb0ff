"""Settings: defaults, environment parsing, validation messages, secrets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from producers import cli
from producers.kafka.connection import KafkaConnection
from producers.settings import DEFAULT_COINS, Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("COINS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_are_the_originals_and_the_demo() -> None:
    settings = Settings()
    assert settings.coins == DEFAULT_COINS
    assert settings.coins[:3] == ("USDT", "BTC", "ETH")
    assert len(settings.coins) == 10
    assert settings.currency == "USD"
    assert settings.demo
    assert settings.source_name == "demo"
    assert settings.topic_current == "coins_current_full"
    assert settings.topic_historical == "coins_historical"
    assert settings.topic_dead_letter == "coins_dead_letter"
    assert settings.backfill_since == dt.date(2024, 1, 1)


def test_environment_and_comma_separated_coins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINS_COINS", " btc, eth ,BTC,,sol")
    monkeypatch.setenv("COINS_CURRENCY", "eur")
    monkeypatch.setenv("COINS_LCW_API_KEY", "abc-secret")
    settings = Settings()
    assert settings.coins == ("BTC", "ETH", "SOL")
    assert settings.currency == "EUR"
    assert not settings.demo
    assert settings.source_name == "livecoinwatch"


def test_coins_as_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINS_COINS", '["btc", "_BTC"]')
    assert Settings().coins == ("BTC", "_BTC")


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("COINS_TOPIC_PARTITIONS=6\nCOINS_LCW_API_KEY=\n")
    settings = Settings()
    assert settings.topic_partitions == 6
    assert settings.lcw_api_key is None, "an empty key means demo, not an empty key"


def test_the_key_is_secret_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINS_LCW_API_KEY", "abc-very-secret")
    monkeypatch.setenv("COINS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("COINS_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("COINS_KAFKA_SASL_USERNAME", "user")
    monkeypatch.setenv("COINS_KAFKA_SASL_PASSWORD", "kafka-very-secret")
    settings = Settings()
    text = repr(settings) + str(settings) + settings.model_dump_json()
    assert "abc-very-secret" not in text
    assert "kafka-very-secret" not in text
    connection = KafkaConnection.from_settings(settings)
    assert "kafka-very-secret" not in repr(connection)
    options = connection.client_options()
    assert options["sasl_plain_password"] == "kafka-very-secret"
    assert options["security_protocol"] == "SASL_SSL"
    assert options["ssl_context"] is not None


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("COINS_STREAM_CREDIT_SHARE", "1.5", "less than or equal to 1"),
        ("COINS_STREAM_CREDIT_SHARE", "0", "greater than 0"),
        ("COINS_COINS", " , ", "at least one coin"),
        ("COINS_COINS", "BTC,E T H", "invalid coin codes"),
        ("COINS_COINS", "BTC;ETH", "invalid coin codes"),
        ("COINS_CURRENCY", "U$D", "currency code"),
        ("COINS_LCW_BASE_URL", "ftp://x", "http"),
        ("COINS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL", "COINS_KAFKA_SASL_USERNAME"),
        ("COINS_KAFKA_COMPRESSION", "brotli", "none"),
        ("COINS_BACKFILL_SINCE", "2024-13-01", "date"),
        ("COINS_TOPIC_DEAD_LETTER", "coins_current_full", "must all differ"),
    ],
)
def test_invalid_values_fail_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert fragment in str(caught.value)


def test_cli_reports_invalid_configuration_with_variable_names(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COINS_TOPIC_PARTITIONS", "zero")
    assert cli.main(["stream"]) == cli.EXIT_CONFIG
    assert "COINS_TOPIC_PARTITIONS" in capsys.readouterr().err


def test_cli_parser_accepts_the_documented_backfill_options() -> None:
    args = cli.build_parser().parse_args(
        [
            "backfill",
            "--since",
            "2024-02-01",
            "--until",
            "2024-03-01",
            "--coins",
            "btc,eth",
            "--partial",
        ]
    )
    assert args.since == dt.date(2024, 2, 1)
    assert args.until == dt.date(2024, 3, 1)
    assert args.coins == ["BTC", "ETH"]
    assert args.partial
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["backfill", "--since", "yesterday"])


async def test_credits_command_explains_the_budget(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.support.fake_livecoinwatch import FakeLiveCoinWatch
    from tests.support.virtual_clock import VirtualClock

    fake = FakeLiveCoinWatch(credits_limit=10_000, credits_remaining=5_001)
    settings = Settings(lcw_api_key=fake.api_key, stream_credit_share=1.0)  # type: ignore[arg-type]
    midnight = 1_735_689_600_000
    code = await cli.show_credits(
        settings, clock=VirtualClock(midnight + 12 * 3_600_000), transport=fake.transport()
    )
    out = capsys.readouterr().out
    assert code == cli.EXIT_OK
    assert "credits left today: 5000 of 10000" in out
    assert "1 call(s) per cycle for 10 coins" in out
    # 5,000 credits left in 12 h, minus the /credits refreshes: one call every ~8.8 s.
    interval = float(out.split("stream interval now: ")[1].split(" s")[0])
    assert 8.6 < interval < 9.0


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--since", "2025-02-01", "--until", "2025-01-31"], "--since 2025-02-01 is after --until"),
        (["--since", "2999-01-01"], "--since 2999-01-01 is in the future"),
        (["--until", "2999-01-01", "--since", "2998-12-31"], "in the future"),
        (["--coins", "BTC,E$H"], "invalid coin codes"),
        (["--coins", " , "], "at least one coin"),
    ],
)
def test_cli_rejects_impossible_backfill_options(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["backfill", *argv])
    assert caught.value.code == cli.EXIT_CONFIG
    assert fragment in capsys.readouterr().err


@pytest.mark.parametrize("key", ["abc def-sekrit", "abc\ndef-sekrit", "abcé-sekrit"])
def test_a_key_no_http_header_can_carry_is_rejected_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv("COINS_LCW_API_KEY", key)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "COINS_LCW_API_KEY" in str(caught.value)
    assert "sekrit" not in str(caught.value)
    assert "sekrit" not in repr(caught.value.errors(include_input=False))


def test_surrounding_whitespace_of_the_key_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINS_LCW_API_KEY", "  abc-123\n")
    settings = Settings()
    assert settings.lcw_api_key is not None
    assert settings.lcw_api_key.get_secret_value() == "abc-123"


def test_cli_reports_cross_field_errors_without_a_blank_variable_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COINS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    assert cli.main(["stream"]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert "COINS_KAFKA_SASL_USERNAME" in err
    assert "COINS_:" not in err
