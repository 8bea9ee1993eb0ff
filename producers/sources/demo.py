"""Demo prices for running the whole stack without an API key.

Each coin follows a geometric random walk with a realistic annualised volatility, starting
near a plausible price. Every message says ``source = "demo"``; nothing here pretends to be
market data.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from producers.clock import Clock
from producers.models import CurrentMessage
from producers.sources.current import FetchResult
from producers.sources.demo_coins import KNOWN_COINS, YEAR_SECONDS, DemoCoin

DEMO_BANNER = """
################################################################################
#  DEMO MODE: no COINS_LCW_API_KEY is set, so these prices are SIMULATED        #
#  (geometric random walk, source="demo"). They are not market data.           #
#  Set COINS_LCW_API_KEY to stream real prices from LiveCoinWatch.             #
################################################################################
"""

DELTA_HORIZONS_SECONDS = {
    "hour": 3_600.0,
    "day": 86_400.0,
    "week": 7 * 86_400.0,
    "month": 30 * 86_400.0,
    "quarter": 90 * 86_400.0,
    "year": 365 * 86_400.0,
}


class _Walk:
    def __init__(self, code: str, coin: DemoCoin, rng: random.Random, start_ms: int) -> None:
        self.code = code
        self.coin = coin
        self.price = coin.price * math.exp(rng.gauss(0.0, 0.02))
        self.last_ms = start_ms
        self.volume_ratio = rng.uniform(0.02, 0.08)
        # Prices one horizon ago, drawn from the same walk run backwards, so deltas look real
        # from the first tick.
        self.anchors = {
            name: self.price
            * math.exp(rng.gauss(0.0, coin.annual_volatility * math.sqrt(seconds / YEAR_SECONDS)))
            for name, seconds in DELTA_HORIZONS_SECONDS.items()
        }
        self.all_time_high = max([self.price, *self.anchors.values()]) * rng.uniform(1.0, 1.3)

    def step(self, now_ms: int, rng: random.Random) -> None:
        elapsed = max(0.0, (now_ms - self.last_ms) / 1000)
        self.last_ms = now_ms
        sigma = self.coin.annual_volatility * math.sqrt(elapsed / YEAR_SECONDS)
        # Drift -sigma^2/2 keeps the expected price constant (a martingale).
        self.price *= math.exp(rng.gauss(-0.5 * sigma * sigma, sigma))
        # Each reference price lags the walk by about its horizon (an exponential average),
        # which keeps the deltas in a realistic range however long the demo runs.
        for name, horizon in DELTA_HORIZONS_SECONDS.items():
            weight = min(1.0, elapsed / horizon)
            self.anchors[name] += (self.price - self.anchors[name]) * weight
        self.all_time_high = max(self.all_time_high, self.price)


class DemoSource:
    name = "demo"

    def __init__(
        self,
        *,
        coins: Sequence[str],
        currency: str,
        clock: Clock,
        seed: int | None = None,
    ) -> None:
        self._rng = random.Random(seed)
        self._clock = clock
        self._currency = currency
        start = clock.now_ms()
        self._walks = [_Walk(code, self._coin(code), self._rng, start) for code in coins]

    def _coin(self, code: str) -> DemoCoin:
        known = KNOWN_COINS.get(code)
        if known is not None:
            return known
        # Unknown codes get a stable, plausible made-up profile.
        local = random.Random(code)
        return DemoCoin(
            name=code.title(),
            price=10 ** local.uniform(-2, 3),
            annual_volatility=local.uniform(0.6, 1.2),
            circulating_supply=10 ** local.uniform(7, 10),
            rank=local.randint(50, 500),
        )

    async def fetch(self) -> FetchResult:
        now = self._clock.now_ms()
        result = FetchResult()
        for walk in self._walks:
            walk.step(now, self._rng)
            result.messages.append(self._message(walk, now))
        return result

    def _message(self, walk: _Walk, now_ms: int) -> CurrentMessage:
        coin = walk.coin
        cap = walk.price * coin.circulating_supply
        deltas = {name: walk.price / anchor for name, anchor in walk.anchors.items()}
        return CurrentMessage(
            source=self.name,
            code=walk.code,
            currency=self._currency,
            timestamp_ms=now_ms,
            rate=walk.price,
            volume=cap * walk.volume_ratio,
            cap=cap,
            liquidity=cap * walk.volume_ratio * 0.05,
            delta_hour=deltas["hour"],
            delta_day=deltas["day"],
            delta_week=deltas["week"],
            delta_month=deltas["month"],
            delta_quarter=deltas["quarter"],
            delta_year=deltas["year"],
            name=coin.name,
            symbol=walk.code,
            rank=coin.rank,
            all_time_high_usd=walk.all_time_high,
            circulating_supply=coin.circulating_supply,
            total_supply=coin.max_supply or coin.circulating_supply,
            max_supply=coin.max_supply,
        )
