"""Live rules on the tick stream, in event time: price above/below a level, a move within a window.

Deterministic by construction, so a restart that replays ticks reproduces the same alerts with
the same ids: every decision depends only on the ticks of one coin (one Kafka partition, in
offset order) and on the kept state, never on wall-clock time or on how partitions interleave.

Each rule is reduced to "a value crosses a threshold upwards": the value is the price (above),
the negated price (below) or a move in percent over a window; it fires at ``value >= fire_at``
and re-arms at ``value < rearm_at`` (hysteresis). Between two ticks only the rules whose
thresholds lie between the previous and the new value can change state, so each coin keeps its
rules sorted by threshold and a tick costs a binary search, not a loop over every rule.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from alerts.edges import EdgeTrigger, PairState
from alerts.rules import Rule


@dataclass(frozen=True)
class Tick:
    coin: str
    ts: int
    rate: float
    currency: str = "USD"
    source: str = ""


@dataclass(frozen=True)
class Fired:
    rule: Rule
    coin: str
    event_ms: int
    values: dict[str, float]
    summary: str
    source: str = "clickhouse"


@dataclass(frozen=True)
class _Entry:
    fire_at: float
    rearm_at: float
    rule: Rule


class _Window:
    """Minimum and maximum price over the last ``span_ms`` of event time (monotonic deques)."""

    def __init__(self, span_ms: int) -> None:
        self.span_ms = span_ms
        self._low: deque[tuple[int, float]] = deque()
        self._high: deque[tuple[int, float]] = deque()

    def push(self, ts: int, rate: float) -> None:
        while self._low and self._low[-1][1] >= rate:
            self._low.pop()
        self._low.append((ts, rate))
        while self._high and self._high[-1][1] <= rate:
            self._high.pop()
        self._high.append((ts, rate))
        oldest = ts - self.span_ms
        while self._low[0][0] < oldest:
            self._low.popleft()
        while self._high[0][0] < oldest:
            self._high.popleft()

    @property
    def low(self) -> tuple[int, float]:
        return self._low[0]

    @property
    def high(self) -> tuple[int, float]:
        return self._high[0]


@dataclass
class _Channel:
    """One value per coin (price, -price, a move over a window) and the rules that watch it."""

    name: str
    window_ms: int | None
    entries_by_fire: list[_Entry] = field(default_factory=list)
    entries_by_rearm: list[_Entry] = field(default_factory=list)
    fire_levels: list[float] = field(default_factory=list)
    rearm_levels: list[float] = field(default_factory=list)
    value: float | None = None
    fresh: bool = True  # the first evaluation after a start looks at every rule

    def seal(self) -> None:
        self.entries_by_fire.sort(key=lambda entry: entry.fire_at)
        self.entries_by_rearm.sort(key=lambda entry: entry.rearm_at)
        self.fire_levels = [entry.fire_at for entry in self.entries_by_fire]
        self.rearm_levels = [entry.rearm_at for entry in self.entries_by_rearm]

    def candidates(self, new: float) -> Sequence[_Entry]:
        old = self.value
        if self.fresh or old is None:
            return self.entries_by_fire
        if new > old:
            low = bisect.bisect_right(self.fire_levels, old)
            high = bisect.bisect_right(self.fire_levels, new)
            return self.entries_by_fire[low:high]
        if new < old:
            low = bisect.bisect_right(self.rearm_levels, new)
            high = bisect.bisect_right(self.rearm_levels, old)
            return self.entries_by_rearm[low:high]
        return ()


def _entry(rule: Rule) -> tuple[str, int | None, _Entry]:
    keep = 1 - rule.hysteresis_pct / 100
    if rule.kind == "price_above":
        level = rule.number("level")
        return "price", None, _Entry(level, level * keep, rule)
    if rule.kind == "price_below":
        level = rule.number("level")
        # -price crosses -level upwards when the price falls to the level
        return "negated_price", None, _Entry(-level, -level * (1 + rule.hysteresis_pct / 100), rule)
    if rule.kind == "price_move":
        threshold = rule.number("move_pct")
        direction = rule.text("direction", "either")
        return direction, rule.duration_ms("window"), _Entry(threshold, threshold * keep, rule)
    raise ValueError(f"rule {rule.id}: kind {rule.kind} is not a live rule")


@dataclass
class _Coin:
    channels: list[_Channel]
    windows: dict[int, _Window]
    watermark: int | None = None


def _fmt(value: float) -> str:
    return f"{value:,.8g}" if abs(value) < 1 else f"{value:,.2f}"


class LiveEvaluator(EdgeTrigger):
    def __init__(
        self,
        rules: Iterable[Rule],
        followed: Sequence[str],
        states: dict[tuple[str, str], PairState] | None = None,
    ) -> None:
        super().__init__(states)
        self.duplicates = 0
        self.evaluated = 0
        self._coins: dict[str, _Coin] = {}
        self._max_window_ms = 0
        for rule in rules:
            if not rule.is_live:
                continue
            channel_name, window_ms, entry = _entry(rule)
            for coin in rule.targets(followed):
                state = self._coins.setdefault(coin, _Coin(channels=[], windows={}))
                channel = next(
                    (
                        c
                        for c in state.channels
                        if c.name == channel_name and c.window_ms == window_ms
                    ),
                    None,
                )
                if channel is None:
                    channel = _Channel(channel_name, window_ms)
                    state.channels.append(channel)
                channel.entries_by_fire.append(entry)
                channel.entries_by_rearm.append(entry)
                if window_ms is not None:
                    state.windows.setdefault(window_ms, _Window(window_ms))
                    self._max_window_ms = max(self._max_window_ms, window_ms)
        for coin_state in self._coins.values():
            for channel in coin_state.channels:
                channel.seal()

    @property
    def max_window_ms(self) -> int:
        return self._max_window_ms

    def _accept(self, tick: Tick) -> _Coin | None:
        """The coin's state if the tick is new in event time; None for duplicates, late ticks
        and coins no live rule watches."""
        coin = self._coins.get(tick.coin)
        if coin is None:
            return None
        if coin.watermark is not None and tick.ts <= coin.watermark:
            self.duplicates += 1
            return None
        coin.watermark = tick.ts
        for window in coin.windows.values():
            window.push(tick.ts, tick.rate)
        return coin

    def _value(self, coin: _Coin, channel: _Channel, tick: Tick) -> float:
        if channel.window_ms is None:
            return tick.rate if channel.name == "price" else -tick.rate
        window = coin.windows[channel.window_ms]
        up = (tick.rate / window.low[1] - 1) * 100 if window.low[1] > 0 else 0.0
        down = (1 - tick.rate / window.high[1]) * 100 if window.high[1] > 0 else 0.0
        if channel.name == "up":
            return up
        if channel.name == "down":
            return down
        return max(up, down)

    def warm(self, tick: Tick) -> None:
        """Feed a tick that was evaluated before the last checkpoint: windows and previous
        values only, no rule evaluation."""
        coin = self._accept(tick)
        if coin is None:
            return
        for channel in coin.channels:
            channel.value = self._value(coin, channel, tick)

    def evaluate(self, tick: Tick) -> list[Fired]:
        coin = self._accept(tick)
        if coin is None:
            return []
        self.evaluated += 1
        fired: list[Fired] = []
        for channel in coin.channels:
            value = self._value(coin, channel, tick)
            for entry in channel.candidates(value):
                outcome = self._step(entry, tick, value, coin, channel)
                if outcome is not None:
                    fired.append(outcome)
            channel.value = value
            channel.fresh = False
        return fired

    def _step(
        self, entry: _Entry, tick: Tick, value: float, coin: _Coin, channel: _Channel
    ) -> Fired | None:
        rule = entry.rule
        fire, rearm = value >= entry.fire_at, value < entry.rearm_at
        if self.level(rule, tick.coin, fire, rearm, tick.ts):
            return self._fired(rule, tick, value, coin, channel)
        return None

    def _fired(self, rule: Rule, tick: Tick, value: float, coin: _Coin, channel: _Channel) -> Fired:
        price = f"{tick.coin} {_fmt(tick.rate)} {tick.currency}"
        if channel.window_ms is None:
            level = rule.number("level")
            side = "above" if rule.kind == "price_above" else "below"
            return Fired(
                rule,
                tick.coin,
                tick.ts,
                {"rate": tick.rate, "level": level},
                f"{price} is {side} {_fmt(level)} (rule {rule.id})",
                tick.source,
            )
        window = coin.windows[channel.window_ms]
        moved_up = channel.name == "up" or (
            channel.name == "either" and (tick.rate / window.low[1] - 1) * 100 >= value
        )
        reference_ts, reference = window.low if moved_up else window.high
        minutes = channel.window_ms / 60_000
        return Fired(
            rule,
            tick.coin,
            tick.ts,
            {
                "rate": tick.rate,
                "reference_rate": reference,
                "reference_time_ms": float(reference_ts),
                "move_pct": value if moved_up else -value,
                "threshold_pct": rule.number("move_pct"),
                "window_minutes": minutes,
            },
            f"{price} moved {'+' if moved_up else '-'}{value:.2f} % within {minutes:g} min "
            f"(from {_fmt(reference)}; rule {rule.id})",
            tick.source,
        )
