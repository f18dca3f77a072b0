"""The event streams of a sharded store: one stream per shard, read as one.

Each shard has its own record and rejection stream (a script may only touch its own
slot). Readers merge them:

- An event of shard ``i`` is named ``{stream id}@{i}`` (``1700000000000-0@7``).
- A *cursor* is where a reader stands in every shard: those names joined by commas
  (``1700000000000-0@0,1700000000002-1@7``); a shard it does not name is read from its
  start, and a bare stream id (a single server's) is shard 0's. Following a stream
  without a group, each event carries the cursor just after it as its ``stream_id``, so
  that an SSE client's ``Last-Event-ID`` resumes every shard at once.
- A consumer group is one group of the same name on every shard's stream; its consumer
  reads, claims, acknowledges and dead-letters per shard, with the events named as above.

Events of different shards come in the order of their ids (milliseconds), per read; the
at-least-once recipe of docs/consumers.md already tolerates what that leaves.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import redis

from worker.core.events import Event
from worker.core.keys import Keys
from worker.storage.connection import Redis, as_str, guarded
from worker.storage.groups import Entries, GroupStream, from_entry

NAME = re.compile(r"([0-9]{1,20}(?:-[0-9]{1,20})?)@([0-9]{1,4})")
POLL = 0.05  # seconds between polls of every shard while a blocking read waits


def named(entry_id: Any, shard: int) -> str:
    """An entry's name across shards: ``{id}@{shard}``."""
    return f"{as_str(entry_id)}@{shard}"


def split_name(name: str) -> tuple[str, int]:
    """``{id}@{shard}`` as (id, shard); a bare id is shard 0's."""
    m = NAME.fullmatch(name)
    return (m.group(1), int(m.group(2))) if m else (name, 0)


def parse_cursor(cursor: str, shards: int) -> list[str]:
    """Each shard's last id read, from a cursor (``"0"``: every shard from its start)."""
    ids = ["0"] * shards
    for part in cursor.split(","):
        entry_id, shard = split_name(part)
        if 0 <= shard < shards:
            ids[shard] = entry_id
    return ids


def cursor_text(ids: Sequence[str]) -> str:
    """A cursor naming every shard read past its start."""
    text = ",".join(named(i, n) for n, i in enumerate(ids) if i not in ("0", "0-0"))
    return text or "0"


def is_cursor(text: str) -> bool:
    """Whether ``text`` is a cursor (names joined by commas)."""
    return all(NAME.fullmatch(part) for part in text.split(","))


def _time(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def read_after(client: Redis, keys: Keys, stream: str, ids: list[str], count: int) -> list[Event]:
    """Events of every shard after ``ids`` (updated in place), oldest first by id; each
    event's ``stream_id`` is the cursor just after it."""
    pipe = client.pipeline(transaction=False)
    for k, after in zip(keys.every_shard(), ids, strict=True):
        pipe.xread({k.events(stream): after}, count=count)
    rows = []
    for shard, reply in enumerate(pipe.execute()):
        for _, entries in reply or []:
            rows += [(as_str(eid), shard, fields) for eid, fields in entries]
    rows.sort(key=lambda row: (_time(row[0]), row[1]))
    events = []
    for entry_id, shard, fields in rows[:count] if len(rows) > count else rows:
        ids[shard] = entry_id
        events.append(from_entry(stream, cursor_text(ids), fields))
    return events


def last_ids(client: Redis, keys: Keys, stream: str) -> list[str]:
    """The newest id of every shard's stream (``0-0`` for an empty one)."""
    pipe = client.pipeline(transaction=False)
    for k in keys.every_shard():
        pipe.xrevrange(k.events(stream), count=1)
    return [as_str(rows[0][0]) if rows else "0-0" for rows in pipe.execute()]


class ShardedGroupStream:
    """One consumer of a group on every shard's stream; GroupStream's interface."""

    def __init__(self, client: Redis, keys: Keys, stream: str, group: str, name: str) -> None:
        self._redis = client
        self.stream, self.group, self.name = stream, group, name
        self.parts = [GroupStream(client, k, stream, group, name) for k in keys.every_shard()]

    @guarded
    def ensure_group(self) -> bool:
        """Create the group on every shard's stream where missing; True when any was."""
        created = [part.ensure_group() for part in self.parts]
        return any(created)

    @guarded
    def read_new(self, count: int, block_ms: int) -> Entries:
        """Entries never delivered to the group, from every shard (waiting up to block_ms)."""
        deadline = time.monotonic() + block_ms / 1000
        while True:
            pipe = self._redis.pipeline(transaction=False)
            for part in self.parts:
                pipe.xreadgroup(self.group, self.name, {part.key: ">"}, count=count)
            try:
                replies = pipe.execute()
            except redis.ResponseError as e:
                if "NOGROUP" not in str(e):
                    raise
                self.ensure_group()
                continue
            found = [
                (named(eid, shard), fields)
                for shard, reply in enumerate(replies)
                for _, entries in reply or []
                for eid, fields in entries
            ]
            if found or time.monotonic() >= deadline:
                found.sort(key=lambda e: _time(split_name(e[0])[0]))
                return found
            time.sleep(POLL)

    @guarded
    def read_own(self, after: str, count: int) -> Entries:
        """This consumer's pending entries after ``after``, shard after shard."""
        entry_id, first = split_name(after) if after != "0" else ("0", 0)
        for shard in range(first, len(self.parts)):
            start = entry_id if shard == first else "0"
            found = self.parts[shard].read_own(start, count)
            if found:
                return [(named(eid, shard), fields) for eid, fields in found]
        return []

    @guarded
    def autoclaim(self, min_idle_ms: int, cursor: Any, count: int) -> tuple[str, Entries, int]:
        """XAUTOCLAIM shard after shard; the cursor names the shard it is in."""
        at, shard = split_name(as_str(cursor))
        next_at, entries, deleted = self.parts[shard].autoclaim(min_idle_ms, at, count)
        found = [(named(eid, shard) if eid is not None else None, f) for eid, f in entries]
        if next_at != "0-0":
            return named(next_at, shard), found, deleted
        if shard + 1 < len(self.parts):
            return named("0-0", shard + 1), found, deleted
        return "0-0", found, deleted

    @guarded
    def deliveries(self, ids: Sequence[Any]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name in ids:
            entry_id, shard = split_name(as_str(name))
            for _, n in self.parts[shard].deliveries([entry_id]).items():
                counts[as_str(name)] = n
        return counts

    def ack(self, stream_id: str) -> None:
        entry_id, shard = split_name(stream_id)
        self.parts[shard].ack(entry_id)

    def dead_letter(self, stream_id: str, fields: dict[str, str], maxlen: int) -> None:
        entry_id, shard = split_name(stream_id)
        self.parts[shard].dead_letter(entry_id, fields, maxlen)

    def event(self, entry_id: Any, fields: Any, deliveries: int = 1) -> Event:
        return from_entry(self.stream, entry_id, fields, deliveries)
