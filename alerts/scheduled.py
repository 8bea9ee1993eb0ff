"""Indicator and pipeline rules, evaluated on a schedule against ClickHouse.

Daily indicators are read from the snapshot tables the dashboards use (refreshed every minute
from the views, see clickhouse/init/README.md): RSI 14 crossing a level, the 12:00 UTC close
crossing an SMA, a new all-time high of the daily close, a drawdown beyond a level. A daily
event is identified by its day (event time = that day's 12:00 UTC close), so however often the
schedule runs, each crossing fires once. Pipeline rules read the ingestion views: a followed coin
without a live tick for N minutes, more than N rejected messages in the last hour.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from alerts.edges import EdgeTrigger, PairState
from alerts.live import Fired
from alerts.rules import PIPELINE_TARGET, Rule
from producers.clock import epoch_ms, noon_ms

MINUTE_MS = 60_000

_LAST_TWO_DAYS = """
SELECT {columns}
FROM crypto.{table}
WHERE code IN {{codes:Array(String)}}
ORDER BY code, day DESC
LIMIT 2 BY code
"""


# What a daily event reports: its values and its one-line summary.
Event = tuple[dict[str, float], str]


@dataclass(frozen=True)
class DayRow:
    code: str
    day: dt.date
    values: dict[str, float | None]


def _as_utc_ms(moment: dt.datetime) -> int:
    if moment.tzinfo is None:  # clickhouse-connect hands back naive UTC for DateTime64(3,'UTC')
        moment = moment.replace(tzinfo=dt.UTC)
    return epoch_ms(moment)


def _pairs(rows: Iterable[DayRow]) -> dict[str, tuple[DayRow, DayRow]]:
    """(previous day, latest day) per coin, for coins with two days."""
    by_code: dict[str, list[DayRow]] = {}
    for row in rows:
        by_code.setdefault(row.code, []).append(row)
    pairs = {}
    for code, found in by_code.items():
        if len(found) >= 2:
            latest, previous = sorted(found, key=lambda r: r.day, reverse=True)[:2]
            pairs[code] = (previous, latest)
    return pairs


class ScheduledEvaluator(EdgeTrigger):
    def __init__(
        self,
        rules: Iterable[Rule],
        followed: Sequence[str],
        states: dict[tuple[str, str], PairState],
        client: Any,
    ) -> None:
        self.rules = [rule for rule in rules if not rule.is_live]
        self.followed = tuple(followed)
        super().__init__(states)
        self._client = client

    def _query(self, sql: str, codes: Sequence[str]) -> list[tuple[Any, ...]]:
        result = self._client.query(sql, parameters={"codes": list(codes)})
        return list(result.result_rows)

    def _days(self, table: str, columns: Sequence[str], codes: Sequence[str]) -> list[DayRow]:
        sql = _LAST_TWO_DAYS.format(columns=", ".join(["code", "day", *columns]), table=table)
        return [
            DayRow(row[0], row[1], {name: row[2 + i] for i, name in enumerate(columns)})
            for row in self._query(sql, codes)
        ]

    def evaluate(self, now_ms: int) -> list[Fired]:
        fired: list[Fired] = []
        for rule in self.rules:
            targets = rule.targets(self.followed)
            handler = getattr(self, f"_{rule.kind}")
            fired.extend(handler(rule, targets, now_ms))
        return fired

    # --- indicator rules ---------------------------------------------------------------------
    def _daily_events(
        self,
        rule: Rule,
        table: str,
        columns: Sequence[str],
        coins: Sequence[str],
        judge: Callable[[str, DayRow, DayRow], Event | None],
    ) -> list[Fired]:
        """Fire ``rule`` for every coin whose latest day, judged against the day before, is an
        event (once per day, dated at that day's 12:00 UTC close)."""
        fired = []
        for code, (previous, latest) in _pairs(self._days(table, columns, coins)).items():
            found = judge(code, previous, latest)
            event_ms = noon_ms(latest.day)
            if found is not None and self.event(rule, code, event_ms):
                fired.append(Fired(rule, code, event_ms, *found))
        return fired

    def _rsi_cross(self, rule: Rule, coins: Sequence[str], now_ms: int) -> list[Fired]:
        level, up = rule.number("level"), rule.text("direction") == "up"

        def judge(code: str, previous: DayRow, latest: DayRow) -> Event | None:
            before, after = previous.values["rsi_14"], latest.values["rsi_14"]
            if before is None or after is None:
                return None
            if not (before < level <= after if up else before > level >= after):
                return None
            return (
                {"rsi_14": after, "previous_rsi_14": before, "level": level},
                f"{code} RSI 14 crossed {'above' if up else 'below'} {level:g} on {latest.day} "
                f"({before:.1f} -> {after:.1f}; rule {rule.id})",
            )

        return self._daily_events(rule, "rsi_daily_snapshot", ["rsi_14"], coins, judge)

    def _sma_cross(self, rule: Rule, coins: Sequence[str], now_ms: int) -> list[Fired]:
        column = f"sma_{int(rule.number('sma'))}"
        up = rule.text("direction") == "up"

        def judge(code: str, previous: DayRow, latest: DayRow) -> Event | None:
            found = (
                previous.values["close"],
                previous.values[column],
                latest.values["close"],
                latest.values[column],
            )
            if any(value is None for value in found):
                return None
            close_before, sma_before, close_after, sma_after = (float(v or 0) for v in found)
            crossed = (
                close_before < sma_before and close_after >= sma_after
                if up
                else close_before > sma_before and close_after <= sma_after
            )
            if not crossed:
                return None
            return (
                {"close": close_after, column: sma_after},
                f"{code} 12:00 UTC close {close_after:,.2f} crossed {'above' if up else 'below'} "
                f"SMA {column[4:]} ({sma_after:,.2f}) on {latest.day} (rule {rule.id})",
            )

        table = "moving_averages_daily_snapshot"
        return self._daily_events(rule, table, ["close", column], coins, judge)

    def _all_time_high(self, rule: Rule, coins: Sequence[str], now_ms: int) -> list[Fired]:
        def judge(code: str, previous: DayRow, latest: DayRow) -> Event | None:
            high_before, high_after = previous.values["running_high"], latest.values["running_high"]
            close = latest.values["close"]
            if high_before is None or high_after is None or close is None:
                return None
            if not high_after > high_before:
                return None
            return (
                {"close": close, "previous_high": high_before},
                f"{code} closed at a new all-time high {close:,.2f} on {latest.day} "
                f"(previous {high_before:,.2f}; rule {rule.id})",
            )

        table = "risk_daily_snapshot"
        return self._daily_events(rule, table, ["close", "running_high"], coins, judge)

    def _drawdown(self, rule: Rule, coins: Sequence[str], now_ms: int) -> list[Fired]:
        level = rule.number("level")
        rearm_level = level * (1 - rule.hysteresis_pct / 100)
        fired = []
        rows = self._days("risk_daily_snapshot", ["close", "drawdown_pct"], coins)
        latest_rows = {code: pair[1] for code, pair in _pairs(rows).items()}
        for row in rows:
            latest_rows.setdefault(row.code, row)
        for code, latest in latest_rows.items():
            drawdown = latest.values["drawdown_pct"]
            if drawdown is None:
                continue
            event_ms = noon_ms(latest.day)
            if self.level(rule, code, drawdown <= -level, drawdown > -rearm_level, event_ms):
                fired.append(
                    Fired(
                        rule,
                        code,
                        event_ms,
                        {"drawdown_pct": drawdown, "level_pct": level},
                        f"{code} is {-drawdown:.1f} % below its high on {latest.day} "
                        f"(beyond {level:g} %; rule {rule.id})",
                    )
                )
        return fired

    # --- pipeline rules ----------------------------------------------------------------------
    def _no_tick(self, rule: Rule, coins: Sequence[str], now_ms: int) -> list[Fired]:
        silence_ms = int(rule.number("minutes")) * MINUTE_MS
        rows = self._query(
            "SELECT code, last_tick_at FROM crypto.ingestion_health "
            "WHERE dataset = 'live' AND code IN {codes:Array(String)}",
            coins,
        )
        fired = []
        for code, last_tick_at in rows:
            last_ms = _as_utc_ms(last_tick_at)
            silent = now_ms - last_ms >= silence_ms
            event_ms = last_ms + silence_ms
            if self.level(rule, code, silent, not silent, event_ms):
                fired.append(
                    Fired(
                        rule,
                        code,
                        event_ms,
                        {"last_tick_ms": float(last_ms), "minutes": silence_ms / MINUTE_MS},
                        f"no live tick for {code} since "
                        f"{dt.datetime.fromtimestamp(last_ms / 1000, dt.UTC):%Y-%m-%d %H:%M:%S} "
                        f"UTC ({silence_ms // MINUTE_MS} min or more; rule {rule.id})",
                    )
                )
        return fired

    def _ingest_errors(self, rule: Rule, coins: Sequence[str], now_ms: int) -> list[Fired]:
        limit = rule.number("per_hour")
        ((count,),) = self._client.query(
            "SELECT toFloat64(sum(errors_last_hour)) FROM crypto.ingestion_errors_by_topic"
        ).result_rows
        errors = float(count or 0)
        event_ms = now_ms // MINUTE_MS * MINUTE_MS
        rearm = errors <= limit * (1 - rule.hysteresis_pct / 100)
        if self.level(rule, PIPELINE_TARGET, errors > limit, rearm, event_ms):
            return [
                Fired(
                    rule,
                    PIPELINE_TARGET,
                    event_ms,
                    {"errors_last_hour": errors, "per_hour": limit},
                    f"{errors:.0f} messages rejected by ClickHouse in the last hour "
                    f"(more than {limit:g}; rule {rule.id})",
                )
            ]
        return []
