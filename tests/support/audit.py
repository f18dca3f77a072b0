"""Accounting after a fault: did every input end as exactly one outcome, and nothing twice?

Used by the fault tests and by the chaos script (``python -m tests.soak.chaos``). Reads
Redis only; it never trusts a counter alone but checks records, events and outcomes
against each other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from tests.support.helpers import reads
from worker.storage.store import Store


@dataclass
class Audit:
    """What Redis holds for a list of enqueued inputs."""

    inputs: int
    outcomes: dict[str, dict[str, object]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    records: int = 0
    rejections: int = 0
    created_events: Counter[str] = field(default_factory=Counter)
    hashes: Counter[str] = field(default_factory=Counter)
    counted: int = 0

    @property
    def lost(self) -> int:
        """Inputs without an outcome, plus created records that are not stored."""
        created = {str(o["id"]) for o in self.outcomes.values() if o["outcome"] == "created"}
        return len(self.missing) + len(created - set(self.created_events))

    @property
    def duplicated(self) -> int:
        """Second `created` events, second records of one content, and over-counted inputs."""
        events = sum(n - 1 for n in self.created_events.values() if n > 1)
        same_content = sum(n - 1 for n in self.hashes.values() if n > 1)
        return events + same_content + max(0, self.counted - self.inputs)

    def by_outcome(self) -> Counter[str]:
        return Counter(str(o["outcome"]) for o in self.outcomes.values())

    def reasons(self) -> Counter[str]:
        return Counter(str(o["reason"]) for o in self.outcomes.values() if o.get("reason"))

    def summary(self) -> dict[str, object]:
        return {
            "inputs": self.inputs,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "records": self.records,
            "rejections": self.rejections,
            "outcomes": dict(self.by_outcome()),
        }


def audit(store: Store, input_ids: Sequence[str]) -> Audit:
    """Check every input's outcome against the records, the event stream and the counters."""
    result = Audit(inputs=len(input_ids))
    client, keys = store.client, store.keys
    for start in range(0, len(input_ids), 1000):
        chunk = input_ids[start : start + 1000]
        for input_id, raw in zip(chunk, client.mget([keys.outcome(i) for i in chunk]), strict=True):
            if raw is None:
                result.missing.append(input_id)
            else:
                result.outcomes[input_id] = orjson.loads(raw)
    for _, fields in client.xrange(keys.record_events):
        if fields[b"event"] == b"created":
            result.created_events[fields[b"id"].decode()] += 1
    for record in reads(store).records(limit=None):
        result.hashes[record.content_hash] += 1
        result.records += 1
    result.rejections = int(client.zcard(keys.rejections))
    stats = store.stats()
    result.counted = sum(stats[n] for n in ("records", "updates", "duplicates", "rejections"))
    return result
