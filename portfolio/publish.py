"""Publish a transactions file: only what changed, and deletions as marker + tombstone.

Publishing the same file twice sends nothing the second time; an edited line (same id) is sent
again with a newer ``version_ms`` and replaces the old one in ClickHouse; a line removed from a
portfolio of the file is deleted. Portfolios that are on the topic but not in the file are left
alone unless ``prune`` is set (so the demo portfolio and your own can come from different files).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from portfolio.messages import Published, content, encode, key_for
from portfolio.transactions import Transaction
from producers.kafka.publisher import Publisher, Record


@dataclass
class PublishPlan:
    records: list[Record] = field(default_factory=list)
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0

    def summary(self) -> str:
        return (
            f"{self.added} new, {self.changed} changed, {self.deleted} deleted, "
            f"{self.unchanged} unchanged"
        )


def plan_publication(
    transactions: Sequence[Transaction],
    portfolios: Sequence[str],
    published: dict[bytes, Published],
    *,
    topic: str,
    currency: str,
    version_ms: int,
    prune: bool = False,
) -> PublishPlan:
    plan = PublishPlan()
    wanted: set[bytes] = set()
    for transaction in transactions:
        key = key_for(transaction.portfolio, transaction.transaction_id)
        wanted.add(key)
        fields = content(transaction, currency)
        before = published.get(key)
        if before is not None and before.live and before.fields == fields:
            plan.unchanged += 1
            continue
        if before is not None and before.live:
            plan.changed += 1
        else:
            plan.added += 1
        plan.records.append(Record(topic, key, encode(fields, version_ms)))
    managed = set(portfolios)
    for key, before in sorted(published.items()):
        if key in wanted or not before.live or before.fields is None:
            continue
        if not prune and before.fields.get("portfolio") not in managed:
            continue
        plan.deleted += 1
        plan.records.append(Record(topic, key, encode({**before.fields, "deleted": 1}, version_ms)))
        plan.records.append(Record(topic, key, b"", tombstone=True))
    return plan


async def publish_plan(publisher: Publisher, plan: PublishPlan) -> None:
    # One partition per key: the marker is acknowledged before its tombstone is appended.
    await publisher.publish(plan.records)
