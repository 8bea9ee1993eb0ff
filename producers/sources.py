"""Where current prices come from: one ``fetch`` per stream cycle, validated coin by coin."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from producers.api import LiveCoinWatchClient
from producers.clock import Clock
from producers.models import (
    ApiCoin,
    CurrentMessage,
    DeadLetterMessage,
    describe_validation_error,
    raw_json,
)

log = logging.getLogger("producers.sources")


@dataclass
class FetchResult:
    messages: list[CurrentMessage] = field(default_factory=list)
    dead_letters: list[DeadLetterMessage] = field(default_factory=list)


class PriceSource(Protocol):
    name: str

    async def fetch(self) -> FetchResult: ...


def validate_coins(
    payloads: Sequence[dict[str, Any]],
    *,
    source: str,
    currency: str,
    timestamp_ms: int,
    intended_topic: str,
) -> FetchResult:
    """Turn raw coin objects into messages; each invalid one becomes a dead letter."""
    result = FetchResult()
    for payload in payloads:
        try:
            coin = ApiCoin.model_validate(payload)
        except ValidationError as error:
            code = payload.get("code")
            result.dead_letters.append(
                DeadLetterMessage(
                    source=source,
                    intended_topic=intended_topic,
                    code=code if isinstance(code, str) else "",
                    error=describe_validation_error(error),
                    raw=raw_json(payload.get("_raw", payload)),
                    failed_at_ms=timestamp_ms,
                )
            )
            continue
        result.messages.append(
            CurrentMessage.from_api(
                coin, source=source, currency=currency, timestamp_ms=timestamp_ms
            )
        )
    return result


class LiveCoinWatchSource:
    name = "livecoinwatch"

    def __init__(
        self,
        client: LiveCoinWatchClient,
        *,
        coins: Sequence[str],
        currency: str,
        clock: Clock,
        intended_topic: str,
    ) -> None:
        self._client = client
        self._coins = list(coins)
        self._currency = currency
        self._clock = clock
        self._topic = intended_topic

    async def fetch(self) -> FetchResult:
        pages = await self._client.coins_map(self._coins, self._currency, meta=True)
        # The API sends no timestamp: the time the answer arrived is the tick's time.
        fetched_at = self._clock.now_ms()
        payloads = [coin for page in pages for coin in page.coins]
        result = validate_coins(
            payloads,
            source=self.name,
            currency=self._currency,
            timestamp_ms=fetched_at,
            intended_topic=self._topic,
        )
        returned = {message.code for message in result.messages}
        returned |= {letter.code for letter in result.dead_letters}
        missing = [code for code in self._coins if code not in returned]
        if missing:
            log.warning("the API returned no data for %s", ",".join(missing))
        return result
