"""Where history points come from: LiveCoinWatch, or the demo walk when there is no key."""

from __future__ import annotations

import hashlib
import math
import random
from typing import Any, Protocol

from producers.clock import DAY_MS, HOUR_MS
from producers.sources.demo_coins import KNOWN_COINS, YEAR_SECONDS
from producers.sources.livecoinwatch import LiveCoinWatchClient


class HistorySource(Protocol):
    name: str
    costs_credits: bool

    async def history(
        self, code: str, currency: str, start_ms: int, end_ms: int
    ) -> list[dict[str, Any]]:
        """Points in [start_ms, end_ms], as the API shapes them (``date`` in epoch ms)."""
        ...


class LiveCoinWatchHistory:
    name = "livecoinwatch"
    costs_credits = True

    def __init__(self, client: LiveCoinWatchClient) -> None:
        self._client = client

    async def history(
        self, code: str, currency: str, start_ms: int, end_ms: int
    ) -> list[dict[str, Any]]:
        return await self._client.history(code, currency, start_ms, end_ms)


class DemoHistory:
    """Daily 12:00 UTC points of a random walk that is the same on every run (seeded by coin
    and day), so a rerun or a resume reproduces identical values."""

    name = "demo"
    costs_credits = False

    def _price(self, code: str, day_index: int) -> float:
        coin = KNOWN_COINS.get(code)
        base = coin.price if coin else 10.0
        volatility = coin.annual_volatility if coin else 0.9
        daily_sigma = volatility * math.sqrt(86_400 / YEAR_SECONDS)
        # A smooth deterministic path: a sum of seeded daily shocks over a short memory keeps
        # the price plausible without storing state between calls.
        level = 0.0
        for lag in range(30):
            seed = hashlib.sha256(f"{code}:{day_index - lag}".encode()).digest()
            level += random.Random(seed).gauss(0.0, daily_sigma) * (1 - lag / 30)
        return base * math.exp(level)

    async def history(
        self, code: str, currency: str, start_ms: int, end_ms: int
    ) -> list[dict[str, Any]]:
        first = -(-(start_ms - 12 * HOUR_MS) // DAY_MS)
        last = (end_ms - 12 * HOUR_MS) // DAY_MS
        points = []
        for day_index in range(first, last + 1):
            price = self._price(code, day_index)
            coin = KNOWN_COINS.get(code)
            supply = coin.circulating_supply if coin else 1e9
            points.append(
                {
                    "date": day_index * DAY_MS + 12 * HOUR_MS,
                    "rate": price,
                    "volume": price * supply * 0.04,
                    "cap": price * supply,
                    "liquidity": None,
                }
            )
        return points
