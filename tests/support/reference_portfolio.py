"""Plain-Python definitions of the portfolio figures (docs/portfolio.md), written from the
definitions and independently of the SQL: loops over days and transactions, a textbook
average-cost ledger, products of (1 + r), statistics' stdev and correlation."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from portfolio.transactions import Transaction
from producers.clock import DAY_MS
from tests.support.reference_indicators import log_return, noon_closes
from tests.support.tick_data import NOON_MS, Tick

MARKET_LOOKBACK_MS = 7 * DAY_MS
INCOMING = ("buy", "transfer_in")


def effective_day(transaction: Transaction) -> date:
    """The first daily close a transaction counts in: its day up to 12:00:00.000, else the next."""
    ms = transaction.timestamp_ms
    day = datetime.fromtimestamp(ms / 1000, tz=UTC).date()
    return day if ms % DAY_MS <= NOON_MS else day + timedelta(days=1)


def market_price(observations: Iterable[Tick], code: str, at_ms: int) -> float | None:
    """Rate of the coin's last observation at or before ``at_ms``, at most 7 days older."""
    best: Tick | None = None
    for tick in observations:
        if (
            tick.code == code
            and tick.timestamp_ms <= at_ms
            and (best is None or tick.timestamp_ms > best.timestamp_ms)
        ):
            best = tick
    if best is None or best.timestamp_ms < at_ms - MARKET_LOOKBACK_MS:
        return None
    return best.rate


@dataclass(frozen=True)
class Priced:
    transaction: Transaction
    price: float | None
    cash_flow: float | None
    btc_price: float | None


def priced(transactions: Sequence[Transaction], observations: Sequence[Tick]) -> list[Priced]:
    result = []
    for t in transactions:
        price = (
            t.price if t.price is not None else market_price(observations, t.code, t.timestamp_ms)
        )
        if price is None:
            flow = None
        elif t.kind in INCOMING:
            flow = float(t.quantity) * price + t.fee
        else:
            flow = -(float(t.quantity) * price - t.fee)
        result.append(Priced(t, price, flow, market_price(observations, "BTC", t.timestamp_ms)))
    return result


@dataclass
class Reference:
    history: list[Tick]
    live: list[Tick]
    transactions: list[Transaction]
    today: date

    def __post_init__(self) -> None:
        self.closes = noon_closes(self.history, self.live)
        self.priced = priced(self.transactions, [*self.history, *self.live])

    def portfolios(self) -> list[str]:
        return sorted({t.portfolio for t in self.transactions})

    def quantity(self, portfolio: str, code: str, day: date) -> Decimal:
        total = Decimal(0)
        for t in self.transactions:
            if t.portfolio == portfolio and t.code == code and effective_day(t) <= day:
                total += -t.quantity if t.kind not in INCOMING else t.quantity
        return total

    def days(self, portfolio: str) -> list[date]:
        first = min(effective_day(t) for t in self.transactions if t.portfolio == portfolio)
        last = max(first, self.today)
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def value(self, portfolio: str, day: date) -> float | None:
        """Sum of quantity x close over the coins held; None if a held coin has no close."""
        total = 0.0
        codes = {
            t.code
            for t in self.transactions
            if t.portfolio == portfolio and effective_day(t) <= day
        }
        for code in sorted(codes):
            quantity = self.quantity(portfolio, code, day)
            if quantity == 0:
                continue
            close = self.closes.get(code, {}).get(day)
            if close is None:
                return None
            total += float(quantity) * close
        return total

    def flows(self, portfolio: str, first: date, last: date) -> float | None:
        """Net cash flow of the transactions counted in the closes first..last (inclusive)."""
        total = 0.0
        for p in self.priced:
            if (
                p.transaction.portfolio == portfolio
                and first <= effective_day(p.transaction) <= last
            ):
                if p.cash_flow is None:
                    return None
                total += p.cash_flow
        return total

    def daily_returns(self, portfolio: str) -> list[tuple[date, float, float | None, float]]:
        """(day, value, return, growth index) for every valued day, in order."""
        rows: list[tuple[date, float, float | None, float]] = []
        index = 1.0
        previous: tuple[date, float] | None = None
        for day in self.days(portfolio):
            value = self.value(portfolio, day)
            if value is None:
                continue
            r: float | None = None
            if previous is not None and previous[1] > 0:
                flows = self.flows(portfolio, previous[0] + timedelta(days=1), day)
                if flows is not None:
                    r = (value - flows) / previous[1] - 1
            if r is not None:
                index *= 1 + r
            rows.append((day, value, r, index))
            previous = (day, value)
        return rows

    def drawdowns(self, portfolio: str) -> list[tuple[float, float]]:
        result = []
        high = -math.inf
        deepest = 0.0
        for _day, _value, _r, index in self.daily_returns(portfolio):
            high = max(high, index)
            drawdown = (index / high - 1) * 100
            deepest = min(deepest, drawdown)
            result.append((drawdown, deepest))
        return result

    def performance(self, portfolio: str) -> dict[str, float | None]:
        rows = self.daily_returns(portfolio)
        by_day = {day: index for day, _v, _r, index in rows}
        latest, first = rows[-1][0], rows[0][0]
        latest_index = rows[-1][3]

        def twr(reference: date) -> float | None:
            return None if reference not in by_day else (latest_index / by_day[reference] - 1) * 100

        year_end = date(latest.year - 1, 12, 31)
        consecutive = {
            day: math.log(1 + r)
            for (day, _v, r, _i), (prev, *_rest) in zip(rows[1:], rows, strict=False)
            if r is not None and prev == day - timedelta(days=1)
        }

        def volatility(days: int) -> float | None:
            window = [lr for day, lr in consecutive.items() if day > latest - timedelta(days=days)]
            return statistics.stdev(window) * math.sqrt(365) * 100 if len(window) == days else None

        all_returns = [math.log(1 + r) for _d, _v, r, _i in rows if r is not None]
        return {
            "twr_7d_pct": twr(latest - timedelta(days=7)),
            "twr_30d_pct": twr(latest - timedelta(days=30)),
            "twr_90d_pct": twr(latest - timedelta(days=90)),
            "twr_ytd_pct": twr(year_end) if first <= year_end else (latest_index - 1) * 100,
            "twr_since_start_pct": (latest_index - 1) * 100,
            "volatility_30d_pct": volatility(30),
            "volatility_90d_pct": volatility(90),
            "volatility_since_start_pct": statistics.stdev(all_returns) * math.sqrt(365) * 100
            if len(all_returns) >= 2
            else None,
            "max_drawdown_pct": min(d for _dd, d in self.drawdowns(portfolio)),
        }

    def positions(self, portfolio: str) -> dict[str, dict[str, float | Decimal | None]]:
        """Average-cost ledger per coin, transactions in time order then id."""
        ledger: dict[str, dict[str, float | Decimal | None]] = {}
        ordered = sorted(
            (p for p in self.priced if p.transaction.portfolio == portfolio),
            key=lambda p: (p.transaction.timestamp_ms, p.transaction.transaction_id),
        )
        for p in ordered:
            t = p.transaction
            row = ledger.setdefault(
                t.code,
                {"quantity": Decimal(0), "cost_basis": 0.0, "realized_pnl": 0.0, "fees_paid": 0.0},
            )
            held = row["quantity"]
            assert isinstance(held, Decimal)
            price = math.nan if p.price is None else p.price
            cost = row["cost_basis"]
            assert isinstance(cost, float)
            if t.kind in INCOMING:
                row["cost_basis"] = cost + float(t.quantity) * price + t.fee
                row["quantity"] = held + t.quantity
            else:
                average = cost / float(held) if held else 0.0
                realized = row["realized_pnl"]
                assert isinstance(realized, float)
                if t.kind == "sell":
                    realized += float(t.quantity) * price - average * float(t.quantity)
                row["realized_pnl"] = realized - t.fee
                row["quantity"] = held - t.quantity
                row["cost_basis"] = average * float(held - t.quantity)
            fees = row["fees_paid"]
            assert isinstance(fees, float)
            row["fees_paid"] = fees + t.fee
        return ledger

    def correlation(
        self, portfolio: str, code_a: str, code_b: str, window: int
    ) -> tuple[int, float | None]:
        held = [c for c, p in self.positions(portfolio).items() if p["quantity"]]
        latest = max(
            day
            for day in {d for code in held for d in self.closes.get(code, {})}
            if all(day in self.closes.get(code, {}) for code in held)
        )
        pairs = []
        for n in range(window):
            day = latest - timedelta(days=n)
            a = log_return(self.closes.get(code_a, {}), day)
            b = log_return(self.closes.get(code_b, {}), day)
            if a is not None and b is not None:
                pairs.append((a, b))
        if len(pairs) != window:
            return len(pairs), None
        try:
            return window, statistics.correlation([a for a, _ in pairs], [b for _, b in pairs])
        except statistics.StatisticsError:
            return window, None

    def btc_only_value(self, portfolio: str, day: date) -> float | None:
        units = 0.0
        for p in self.priced:
            if p.transaction.portfolio == portfolio and effective_day(p.transaction) <= day:
                if p.cash_flow is None or p.btc_price is None:
                    return None
                units += p.cash_flow / p.btc_price
        close = self.closes.get("BTC", {}).get(day)
        return None if close is None else units * close
