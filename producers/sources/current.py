"""Where current prices come from: one ``fetch`` per stream cycle, validated coin by coin."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from producers.clock import Clock
from producers.errors import (
    ApiError,
    MalformedResponseError,
    RetryableApiError,
    UnexpectedStatusError,
)
from producers.models import (
    ApiCoin,
    CurrentMessage,
    DeadLetterMessage,
    describe_validation_error,
    raw_json,
)
from producers.sources.livecoinwatch import LiveCoinWatchClient, map_pages

log = logging.getLogger(__name__)


@dataclass
class FetchResult:
    messages: list[CurrentMessage] = field(default_factory=list)
    dead_letters: list[DeadLetterMessage] = field(default_factory=list)
    failed_pages: int = 0  # /coins/map pages that failed after earlier ones answered


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
        result = FetchResult()
        answered: list[str] = []
        failed_page: ApiError | None = None
        for chunk in map_pages(self._coins):
            try:
                page = await self._client.coins_map_page(chunk, self._currency, meta=True)
            except (RetryableApiError, UnexpectedStatusError, MalformedResponseError) as error:
                if not result.messages and not result.dead_letters:
                    raise  # nothing fetched: the stream decides what a failed cycle means
                # Earlier pages are paid for and hold real ticks: publish them; the coins of
                # the failed page and after wait for the next cycle.
                failed_page = error
                break
            # The API sends no timestamp: the time the answer arrived is the tick's time
            # (per page, so a slow or retried later page does not age the earlier ones).
            page_result = validate_coins(
                page.coins,
                source=self.name,
                currency=self._currency,
                timestamp_ms=self._clock.now_ms(),
                intended_topic=self._topic,
            )
            result.messages += page_result.messages
            result.dead_letters += page_result.dead_letters
            answered.extend(chunk)
        if failed_page is not None:
            result.failed_pages += 1
            log.warning(
                "a /coins/map page failed after %d coins were fetched; publishing those: %s",
                len(answered),
                failed_page,
            )
            if isinstance(failed_page, MalformedResponseError):
                result.dead_letters.append(
                    DeadLetterMessage(
                        source=self.name,
                        intended_topic=self._topic,
                        code="",
                        error=str(failed_page),
                        raw=failed_page.body,
                        failed_at_ms=self._clock.now_ms(),
                    )
                )
        returned = {message.code for message in result.messages}
        returned |= {letter.code for letter in result.dead_letters}
        missing = [code for code in answered if code not in returned]
        if missing:
            log.warning("the API returned no data for %s", ",".join(missing))
        return result
