"""Helpers for the producers' integration tests: settings and a subprocess environment on the
test's own topics, and the daily closes found on a topic (read back with the product's
``producers.kafka.reader.read_topic``)."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from producers.clock import DAY_MS, HOUR_MS, noon_ms
from producers.settings import Settings

# The producers' topics a test names itself, so no two tests (or runs) share one.
OWN_TOPICS = {
    "topic_current": "current",
    "topic_historical": "historical",
    "topic_dead_letter": "dead",
    "topic_backfill_progress": "progress",
}


def own_topics(unique_name: Callable[[str], str]) -> dict[str, str]:
    """The producers' topic settings, each a fresh name."""
    return {field: unique_name(prefix) for field, prefix in OWN_TOPICS.items()}


def producer_settings(bootstrap: str, unique_name: Callable[[str], str], **values: Any) -> Settings:
    """Settings on ``bootstrap`` and the test's own topics; no ``.env`` is read."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None, kafka_bootstrap_servers=bootstrap, **{**own_topics(unique_name), **values}
    )


def producer_env(
    bootstrap: str, unique_name: Callable[[str], str], **variables: str
) -> dict[str, str]:
    """The environment of a ``coins`` subprocess on ``bootstrap`` and the test's own topics,
    JSON logs, and none of the caller's own ``COINS_`` variables."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefix)}
    env.update(
        {f"{prefix}{field.upper()}": name for field, name in own_topics(unique_name).items()}
    )
    env.update(
        {
            f"{prefix}KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            f"{prefix}KAFKA_LINGER_MS": "5",
            f"{prefix}LOG_FORMAT": "json",
        }
    )
    env.update(variables)
    return env


def daily_closes(values: Iterable[Mapping[str, Any]]) -> Counter[tuple[str, int]]:
    """How often each (coin, 12:00 UTC) close is among the historical messages ``values``."""
    found: Counter[tuple[str, int]] = Counter()
    for value in values:
        stamp = int(value["timestamp_ms"])
        if (stamp - 12 * HOUR_MS) % DAY_MS == 0:
            found[(str(value["code"]), stamp)] += 1
    return found


def every_close(coins: Iterable[str], since: dt.date, until: dt.date) -> set[tuple[str, int]]:
    """Each coin's 12:00 UTC close of every day from ``since`` to ``until``."""
    days = (until - since).days + 1
    return {(c, noon_ms(since + dt.timedelta(days=i))) for c in coins for i in range(days)}


def assert_every_close_once(
    found: Counter[tuple[str, int]], coins: Iterable[str], since: dt.date, until: dt.date
) -> None:
    """``found`` (``daily_closes``) holds every close from ``since`` to ``until``, each once."""
    assert set(found) == every_close(coins, since, until)
    assert set(found.values()) == {1}, [k for k, n in found.items() if n > 1][:5]
