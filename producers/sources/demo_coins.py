"""The demo coins' profiles, shared by the demo price walk and the demo history."""

from __future__ import annotations

from dataclasses import dataclass

YEAR_SECONDS = 365.0 * 86_400


@dataclass(frozen=True)
class DemoCoin:
    name: str
    price: float
    annual_volatility: float
    circulating_supply: float
    rank: int
    max_supply: float | None = None


# Late-2024 ballpark figures; stablecoins barely move.
KNOWN_COINS: dict[str, DemoCoin] = {
    "BTC": DemoCoin("Bitcoin", 95_000.0, 0.55, 19_790_000, 1, 21_000_000),
    "ETH": DemoCoin("Ethereum", 3_300.0, 0.70, 120_400_000, 2),
    "USDT": DemoCoin("Tether", 1.0, 0.003, 132_000_000_000, 3),
    "XRP": DemoCoin("XRP", 2.2, 0.90, 57_000_000_000, 4, 100_000_000_000),
    "SOL": DemoCoin("Solana", 190.0, 0.85, 475_000_000, 5),
    "USDC": DemoCoin("USD Coin", 1.0, 0.003, 40_000_000_000, 7),
    "DOGE": DemoCoin("Dogecoin", 0.32, 1.00, 147_000_000_000, 8),
    "LINK": DemoCoin("Chainlink", 20.0, 0.90, 626_000_000, 12, 1_000_000_000),
    "AAVE": DemoCoin("Aave", 300.0, 0.95, 15_000_000, 30, 16_000_000),
    "FDUSD": DemoCoin("First Digital USD", 1.0, 0.003, 1_900_000_000, 40),
}
