"""Golden tests: the messages the producers build equal the contract files field for field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from producers.models import (
    ApiCoin,
    ApiHistoryPoint,
    CurrentMessage,
    DeadLetterMessage,
    HistoricalMessage,
)
from producers.sources.current import validate_coins
from provisioning.contracts import example


def contract(name: str) -> dict[str, Any]:
    return example(name.removesuffix(".json"))


def api_coin_from_contract(expected: dict[str, Any]) -> dict[str, Any]:
    """The /coins/map object the API would send for the contract's message."""
    return {
        "code": expected["code"],
        "rate": expected["rate"],
        "volume": expected["volume"],
        "cap": expected["cap"],
        "liquidity": expected["liquidity"],
        "delta": {
            name: expected[f"delta_{name}"]
            for name in ("hour", "day", "week", "month", "quarter", "year")
        },
        "name": expected["name"],
        "symbol": expected["symbol"],
        "rank": expected["rank"],
        "age": expected["age"],
        "color": expected["color"],
        "png32": expected["png32"],
        "png64": expected["png64"],
        "webp32": expected["webp32"],
        "webp64": expected["webp64"],
        "exchanges": expected["exchanges"],
        "markets": expected["markets"],
        "pairs": expected["pairs"],
        "allTimeHighUSD": expected["all_time_high_usd"],
        "circulatingSupply": expected["circulating_supply"],
        "totalSupply": expected["total_supply"],
        "maxSupply": expected["max_supply"],
        "categories": expected["categories"],
    }


def assert_same_json(actual: bytes, expected: dict[str, Any]) -> None:
    decoded = json.loads(actual)
    assert list(decoded) == list(expected), "field names and order must match the contract"
    assert decoded == expected
    for name, value in expected.items():
        # Same JSON kind per field: a number stays a number, a string a string.
        kind = (int, float) if isinstance(value, int | float) else type(value)
        assert isinstance(decoded[name], kind), name


def test_current_message_matches_contract() -> None:
    expected = contract("coins_current_full.json")
    coin = ApiCoin.model_validate(api_coin_from_contract(expected))
    message = CurrentMessage.from_api(
        coin,
        source=expected["source"],
        currency=expected["currency"],
        timestamp_ms=expected["timestamp_ms"],
    )
    assert_same_json(message.to_json_bytes(), expected)


def test_historical_message_matches_contract() -> None:
    expected = contract("coins_historical.json")
    point = ApiHistoryPoint.model_validate(
        {
            "date": expected["timestamp_ms"],
            "rate": expected["rate"],
            "volume": expected["volume"],
            "cap": expected["cap"],
            "liquidity": expected["liquidity"],
        }
    )
    message = HistoricalMessage.from_api(
        point, code=expected["code"], source=expected["source"], currency=expected["currency"]
    )
    assert_same_json(message.to_json_bytes(), expected)


def test_dead_letter_matches_contract() -> None:
    expected = contract("coins_dead_letter.json")
    result = validate_coins(
        [json.loads(expected["raw"])],
        source=expected["source"],
        currency="USD",
        timestamp_ms=expected["failed_at_ms"],
        intended_topic=expected["intended_topic"],
    )
    assert result.messages == []
    (letter,) = result.dead_letters
    assert isinstance(letter, DeadLetterMessage)
    assert_same_json(letter.to_json_bytes(), expected)


def test_numbers_as_strings_are_accepted_as_float64() -> None:
    coin = ApiCoin.model_validate(
        {"code": "BTC", "rate": "98123.45", "cap": "1941234567890.5", "rank": "1"}
    )
    assert coin.rate == 98123.45
    assert coin.cap == 1941234567890.5
    assert coin.rank == 1


def test_large_caps_keep_float64_precision() -> None:
    coin = ApiCoin.model_validate({"code": "BTC", "rate": 1.0, "cap": 1941234567890.5})
    message = CurrentMessage.from_api(coin, source="livecoinwatch", currency="USD", timestamp_ms=0)
    assert json.loads(message.to_json_bytes())["cap"] == 1941234567890.5


def test_minimal_coin_has_every_contract_field_as_null() -> None:
    coin = ApiCoin.model_validate({"code": "XYZ", "rate": 2.5})
    decoded = json.loads(
        CurrentMessage.from_api(
            coin, source="livecoinwatch", currency="USD", timestamp_ms=1
        ).to_json_bytes()
    )
    assert list(decoded) == list(contract("coins_current_full.json"))
    assert decoded["delta_day"] is None
    assert decoded["max_supply"] is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"rate": 1.0}, "code"),
        ({"code": "BTC"}, "rate"),
        ({"code": "BTC", "rate": None}, "rate"),
        ({"code": "BTC", "rate": "not-a-number"}, "rate"),
        ({"code": "BTC", "rate": "NaN"}, "rate"),
        ({"code": "BTC", "rate": -1}, "rate"),
        ({"code": "BTC", "rate": 1.0, "delta": {"day": "x"}}, "delta.day"),
        ({"code": "BTC", "rate": 1.0, "rank": 1.5}, "rank"),
    ],
)
def test_invalid_coins_become_dead_letters_naming_the_field(
    payload: dict[str, Any], field: str
) -> None:
    result = validate_coins(
        [payload],
        source="livecoinwatch",
        currency="USD",
        timestamp_ms=7,
        intended_topic="coins_current_full",
    )
    assert result.messages == []
    (letter,) = result.dead_letters
    assert letter.error.startswith(field + ":")
    assert json.loads(letter.raw) == payload
    assert letter.failed_at_ms == 7
