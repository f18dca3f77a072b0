"""Consumer-group commands on one event stream (XREADGROUP, XAUTOCLAIM, XACK, ...).

The policy (what to read when, when to dead-letter) is :class:`worker.read.consumer.Consumer`;
this module is only its Redis side. Every method raises StoreUnavailable on a transient
fault. A stream (and so its group) deleted under a running consumer is recreated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from worker.core.events import Event
from worker.core.keys import Keys
from worker.storage.connection import Redis, as_str, guarded

Entries = list[tuple[Any, Any]]


class GroupStream:
    """One consumer (``name``) of one group (``group``) on one stream."""

    def __init__(self, client: Redis, keys: Keys, stream: str, group: str, name: str) -> None:
        self._redis = client
        self.stream, self.group, self.name = stream, group, name
        self.key = keys.events(stream)
        self.dead_key = keys.dead_letter(stream, group)

    @guarded
    def ensure_group(self) -> bool:
        """Create the group at the start of the stream if missing; True when created."""
        try:
            self._redis.xgroup_create(self.key, self.group, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
            return False
        return True

    @guarded
    def read_new(self, count: int, block_ms: int) -> Entries:
        """Entries never delivered to the group (waiting up to ``block_ms``)."""
        reply: Any = self._regrouped(
            lambda: self._redis.xreadgroup(
                self.group, self.name, {self.key: ">"}, count=count, block=block_ms
            )
        )
        return [e for _, entries in reply or [] for e in entries]

    @guarded
    def read_own(self, after: str, count: int) -> Entries:
        """This consumer's pending entries after ``after`` (``"0"``: from the oldest)."""
        reply: Any = self._regrouped(
            lambda: self._redis.xreadgroup(self.group, self.name, {self.key: after}, count=count)
        )
        return list(reply[0][1]) if reply else []

    @guarded
    def autoclaim(self, min_idle_ms: int, cursor: Any, count: int) -> tuple[str, Entries, int]:
        """Claim entries idle longer than ``min_idle_ms``: (next cursor, entries, deleted).

        ``deleted`` counts entries trimmed while pending (Redis 7 names them and drops
        them from the pending list; Redis 6.2 returns them as nil entries instead).
        """
        reply: Any = self._regrouped(
            lambda: self._redis.xautoclaim(
                self.key, self.group, self.name, min_idle_ms, start_id=cursor, count=count
            )
        )
        deleted = len(reply[2]) if len(reply) > 2 else 0
        return as_str(reply[0]), list(reply[1]), deleted

    @guarded
    def deliveries(self, ids: Sequence[Any]) -> dict[str, int]:
        """Delivery counts of our pending entries (XPENDING), one pipelined call per id."""
        if not ids:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for entry_id in ids:
            pipe.xpending_range(
                self.key, self.group, min=entry_id, max=entry_id, count=1, consumername=self.name
            )
        found = pipe.execute()
        return {
            as_str(i): int(rows[0]["times_delivered"]) if rows else 1
            for i, rows in zip(ids, found, strict=True)
        }

    @guarded
    def ack(self, stream_id: str) -> None:
        self._redis.xack(self.key, self.group, stream_id)

    @guarded
    def dead_letter(self, stream_id: str, fields: dict[str, str], maxlen: int) -> None:
        """Move an entry to the group's dead-letter stream and acknowledge it, atomically."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.xadd(self.dead_key, fields, maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
        pipe.xack(self.key, self.group, stream_id)
        pipe.execute()

    def event(self, entry_id: Any, fields: Any, deliveries: int = 1) -> Event:
        return from_entry(self.stream, entry_id, fields, deliveries)

    def _regrouped(self, call: Any) -> Any:
        """Run ``call``; when the stream was deleted (NOGROUP), recreate the group and retry."""
        try:
            return call()
        except redis.ResponseError as e:
            if "NOGROUP" not in str(e):
                raise
        self.ensure_group()
        return call()


def from_entry(stream: str, entry_id: bytes | str, fields: Any, deliveries: int = 1) -> Event:
    """An Event from one raw stream entry (bytes or str; nil fields mean a deleted entry)."""
    decoded = {as_str(k): as_str(v) for k, v in (fields or {}).items()}
    return Event(stream, as_str(entry_id), decoded, deliveries)
