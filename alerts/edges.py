"""Edge-triggered firing per rule and coin, one implementation for the live and the scheduled
evaluators.

A level condition fires when it becomes true and re-arms only once its re-arm condition (the
hysteresis) holds; a dated event (a crossing on a day) fires once per event time. Both respect
the rule's cooldown. Every pair whose state changed is kept in ``dirty`` until the next
checkpoint writes it to the state topic (alerts/state.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.rules import Rule


@dataclass
class PairState:
    """Edge state of one rule on one coin."""

    condition_hash: str
    active: bool = False
    last_fired_ms: int | None = None
    last_event_ms: int | None = None


class EdgeTrigger:
    def __init__(self, states: dict[tuple[str, str], PairState] | None = None) -> None:
        self.states: dict[tuple[str, str], PairState] = states if states is not None else {}
        self.dirty: set[tuple[str, str]] = set()

    def state(self, rule: Rule, coin: str) -> PairState:
        """The pair's state; a fresh one when the rule's condition changed since it was saved."""
        key = (rule.id, coin)
        state = self.states.get(key)
        if state is None or state.condition_hash != rule.condition_hash:
            state = PairState(rule.condition_hash)
            self.states[key] = state
        return state

    def level(self, rule: Rule, coin: str, condition: bool, rearm: bool, event_ms: int) -> bool:
        """Edge-trigger a level condition; True when it fires (cooldown respected)."""
        state = self.state(rule, coin)
        if not state.active and condition:
            state.active = True
            state.last_event_ms = event_ms
            self.dirty.add((rule.id, coin))
            return self._fire(state, rule, event_ms)
        if state.active and rearm:
            state.active = False
            state.last_event_ms = event_ms
            self.dirty.add((rule.id, coin))
        return False

    def event(self, rule: Rule, coin: str, event_ms: int) -> bool:
        """A dated event: fires once per event time (cooldown respected)."""
        state = self.state(rule, coin)
        if state.last_event_ms is not None and event_ms <= state.last_event_ms:
            return False
        state.last_event_ms = event_ms
        self.dirty.add((rule.id, coin))
        return self._fire(state, rule, event_ms)

    @staticmethod
    def _fire(state: PairState, rule: Rule, event_ms: int) -> bool:
        if state.last_fired_ms is not None and event_ms - state.last_fired_ms < rule.cooldown_ms:
            return False
        state.last_fired_ms = event_ms
        return True
