"""Reads of the event streams: following one without a group, and its consumer groups."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from worker.core.events import STREAMS, Event
from worker.core.keys import Keys
from worker.storage.connection import as_str, guarded, guarded_iter
from worker.storage.groups import GroupStream, from_entry
from worker.storage.reader import Reader
from worker.storage.shardstreams import (
    POLL,
    ShardedGroupStream,
    cursor_text,
    last_ids,
    parse_cursor,
    read_after,
)

# Counting a group's lag by hand (Redis < 7) stops here: `ingest stats` must stay cheap.
LAG_COUNT_CAP = 100_000


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """One consumer group: pending = delivered, not acknowledged; lag = not yet delivered."""

    stream: str
    group: str
    consumers: int
    pending: int
    last_delivered_id: str
    lag: int
    dead_letters: int


class StreamReads(Reader):
    """The event streams of one namespace; transient faults raise StoreUnavailable."""

    @guarded_iter
    def events(
        self,
        stream: str = "records",
        *,
        start: str = "0",
        block: float = 1.0,
        stop: threading.Event | None = None,
    ) -> Iterator[Event]:
        """Follow a stream without a group (nothing is acknowledged): from ``start``.

        ``start`` is a stream id, ``"0"`` for the beginning of the retained stream, or
        ``"$"`` for only events added after the call. Ends when ``stop`` is set.
        """
        key = self.keys.events(_stream(stream))
        if self.keys.shards > 1:
            yield from self._sharded_events(stream, start, block, stop)
            return
        last = self._last_id(key) if start == "$" else start
        while stop is None or not stop.is_set():
            reply: Any = self._redis.xread({key: last}, count=500, block=int(block * 1000))
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    last = as_str(entry_id)
                    yield from_entry(stream, entry_id, fields)

    def _sharded_events(
        self, stream: str, start: str, block: float, stop: threading.Event | None
    ) -> Iterator[Event]:
        """:meth:`events` on every shard's stream (see worker.storage.shardstreams)."""
        ids = (
            last_ids(self._redis, self.keys, stream)
            if start == "$"
            else parse_cursor(start, self.keys.shards)
        )
        while stop is None or not stop.is_set():
            found = read_after(self._redis, self.keys, stream, ids, 500)
            yield from found
            if not found:
                if stop is not None:
                    stop.wait(min(block, POLL))
                else:
                    time.sleep(min(block, POLL))

    @guarded
    def events_after(self, stream: str, after: str, count: int = 500) -> list[Event]:
        """Events of a stream after id ``after``, without waiting: an empty list when none.

        On a sharded store ``after`` is a cursor and each event's ``stream_id`` the cursor
        after it (worker.storage.shardstreams).
        """
        if self.keys.shards > 1:
            ids = parse_cursor(after, self.keys.shards)
            return read_after(self._redis, self.keys, _stream(stream), ids, count)
        reply: Any = self._redis.xread({self.keys.events(_stream(stream)): after}, count=count)
        return [
            from_entry(stream, eid, fields) for _, entries in reply or [] for eid, fields in entries
        ]

    @guarded
    def last_event_id(self, stream: str) -> str:
        """The id of a stream's newest event (``0-0`` when it is empty); a cursor on shards."""
        if self.keys.shards > 1:
            return cursor_text(last_ids(self._redis, self.keys, _stream(stream)))
        return self._last_id(self.keys.events(_stream(stream)))

    def _last_id(self, key: str) -> str:
        newest: Any = self._redis.xrevrange(key, count=1)
        return as_str(newest[0][0]) if newest else "0-0"

    def group_stream(self, stream: str, group: str, name: str) -> GroupStream | ShardedGroupStream:
        """The consumer-group commands for consumer ``name`` of ``group`` on ``stream``."""
        if self.keys.shards > 1:
            return ShardedGroupStream(self._redis, self.keys, _stream(stream), group, name)
        return GroupStream(self._redis, self.keys, _stream(stream), group, name)

    @guarded
    def groups(self, stream: str = "records") -> list[GroupInfo]:
        """The consumer groups of a stream with their pending count, lag and dead letters.

        On a sharded store a group is the same name on every shard's stream: its counts
        are summed, its last delivered id is a cursor.
        """
        merged: dict[str, list[tuple[int, GroupInfo]]] = {}
        for k in self.keys.every_shard():
            key = k.events(_stream(stream))
            if self._redis.exists(key):
                for raw in self._redis.xinfo_groups(key):
                    info = self._group(stream, key, raw, k)
                    merged.setdefault(info.group, []).append((k.index, info))
        if self.keys.shards == 1:
            return [infos[0][1] for infos in merged.values()]
        return [_summed(infos, self.keys) for infos in merged.values()]

    def _group(self, stream: str, key: str, raw: dict[str, Any], keys: Keys) -> GroupInfo:
        name, last = as_str(raw["name"]), as_str(raw["last-delivered-id"])
        lag = raw.get("lag")
        return GroupInfo(
            stream=stream,
            group=name,
            consumers=int(raw["consumers"]),
            pending=int(raw["pending"]),
            last_delivered_id=last,
            lag=int(lag) if lag is not None else self._count_after(key, last),
            dead_letters=int(self._redis.xlen(keys.dead_letter(stream, name))),
        )

    def _count_after(self, key: str, last: str) -> int:
        """Entries after ``last`` (Redis 6.2 has no ``lag``); counted up to LAG_COUNT_CAP."""
        count, cursor = 0, last
        while count < LAG_COUNT_CAP:
            rows: Any = self._redis.xrange(key, min=f"({cursor}", count=1000)
            if not rows:
                break
            count += len(rows)
            cursor = as_str(rows[-1][0])
        return min(count, LAG_COUNT_CAP)


def _summed(found: list[tuple[int, GroupInfo]], keys: Keys) -> GroupInfo:
    """One group over every shard: counts summed, the last delivered ids as a cursor."""
    last = ["0"] * keys.shards
    for shard, info in found:
        last[shard] = info.last_delivered_id
    infos = [info for _, info in found]
    return GroupInfo(
        stream=infos[0].stream,
        group=infos[0].group,
        consumers=max(i.consumers for i in infos),
        pending=sum(i.pending for i in infos),
        last_delivered_id=cursor_text(last),
        lag=sum(i.lag for i in infos),
        dead_letters=sum(i.dead_letters for i in infos),
    )


def _stream(name: str) -> str:
    if name not in STREAMS:
        raise ValueError(f"no stream {name!r}: one of {', '.join(STREAMS)}")
    return name
