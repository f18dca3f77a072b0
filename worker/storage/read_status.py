"""Reads for the status page: activity counters, feed and host state, the store's size.

Every read here is bounded: a fixed number of hourly activity hashes, one pipelined
``HMGET`` per feed asked for, one ``HGET``/``ZCOUNT`` pair per host, the newest entries of
the record stream, a capped scan of the newest rejections. Nothing walks the keyspace.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from worker.core.models import Record, Rejection
from worker.storage import recordform
from worker.storage.connection import as_str, guarded
from worker.storage.feedstate import STATE_FIELDS, parse_field
from worker.storage.reader import Reader

OUTCOMES = ("created", "updated", "duplicate", "rejected")
DAY_HOURS = 24
NO_DATE = -1e15  # the score of an undated record (worker.storage.store)


@dataclass(frozen=True, slots=True)
class Activity:
    """Outcomes counted per minute, rejection reasons and created records per source."""

    now: float  # Redis's clock, epoch seconds
    minutes: dict[int, Counter[str]] = field(default_factory=dict)  # epoch minute -> counts
    reasons: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class HostState:
    """A host's politeness state: fetches under way, next start and block (epoch ms)."""

    host: str
    fetching: int
    next_start_ms: int | None
    blocked_until_ms: int | None


@dataclass(frozen=True, slots=True)
class StoreSize:
    """Memory against maxmemory (bytes, 0: no limit), records kept, the oldest dated one."""

    used_memory: int
    maxmemory: int
    records: int
    oldest_published: float | None
    undated: int


class StatusReads(Reader):
    """What the status page shows; transient faults raise StoreUnavailable."""

    @guarded
    def activity(self, hours: int = DAY_HOURS) -> Activity:
        """The activity counters of the current hour and the ``hours`` before it."""
        seconds, _ = self._redis.time()
        hour = int(seconds) // 3600
        pipe = self._redis.pipeline(transaction=False)
        for h in range(hour - hours, hour + 1):
            for k in self.keys.every_shard():  # on shards: counted where each was written
                pipe.hgetall(k.activity(h))
        found = Activity(float(seconds))
        for raw in pipe.execute():
            for name, value in raw.items():
                _count(found, as_str(name), int(value))
        return found

    @guarded
    def feed_states(self, urls: Sequence[str]) -> list[dict[str, Any]]:
        """The state of each feed (as :meth:`FeedState.state`), in one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        for url in urls:
            pipe.hmget(self.keys.feed_state(url), list(STATE_FIELDS))
        return [_state(url, raw) for url, raw in zip(urls, pipe.execute(), strict=True)]

    @guarded
    def host_states(self, hosts: Sequence[str]) -> dict[str, HostState]:
        """Politeness state of each host: leases live now, next start, blocked until."""
        seconds, micros = self._redis.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        pipe = self._redis.pipeline(transaction=False)
        for host in hosts:
            pipe.hmget(self.keys.host(host), ["next", "blocked"])
            pipe.zcount(self.keys.host_leases(host), now_ms, "+inf")
        raw = pipe.execute()
        found = {}
        for n, host in enumerate(hosts):
            (nxt, blocked), fetching = raw[2 * n], raw[2 * n + 1]
            found[host] = HostState(host, int(fetching), _ms(nxt, now_ms), _ms(blocked, now_ms))
        return found

    @guarded
    def store_size(self) -> StoreSize:
        """Memory used and its limit, records kept, and the oldest dated record's date."""
        info: Any = self._redis.info("memory")
        # A cluster answers per node (name -> its INFO): memory summed over the nodes.
        nodes = (
            list(info.values()) if info and isinstance(next(iter(info.values())), dict) else [info]
        )
        pipe = self._redis.pipeline(transaction=False)
        for k in self.keys.every_shard():
            pipe.zcard(k.by_published)
            pipe.zrangebyscore(k.by_published, NO_DATE + 1, "+inf", 0, 1, withscores=True)
            pipe.zcount(k.by_published, "-inf", NO_DATE)
        found = pipe.execute()
        oldest = [float(rows[0][1]) for rows in found[1::3] if rows]
        return StoreSize(
            used_memory=sum(int(n.get("used_memory", 0)) for n in nodes),
            maxmemory=sum(int(n.get("maxmemory", 0)) for n in nodes),
            records=sum(int(n) for n in found[0::3]),
            oldest_published=min(oldest) if oldest else None,
            undated=sum(int(n) for n in found[2::3]),
        )

    @guarded
    def recent_records(self, limit: int = 20) -> list[tuple[Record, int]]:
        """The records most recently created or updated, each with its cluster's size."""
        pipe = self._redis.pipeline(transaction=False)
        for k in self.keys.every_shard():
            pipe.xrevrange(k.record_events, count=limit * 3)
        entries: Any = sorted(
            (e for shard in pipe.execute() for e in shard),
            key=lambda e: tuple(int(x) for x in as_str(e[0]).split("-")),
            reverse=True,
        )
        ids = list(dict.fromkeys(as_str(e[1][b"id"]) for e in entries if b"id" in e[1]))
        raws = self._get_many(lambda k: k.record, ids[:limit]) if ids else []
        records = [recordform.to_record(raw) for raw in raws if raw]
        pipe = self._redis.pipeline(transaction=False)
        for record in records:
            pipe.zcard(self.keys.cluster(record.cluster or record.id))
        return [(r, max(int(n), 1)) for r, n in zip(records, pipe.execute(), strict=True)]

    @guarded
    def latest_rejections(self, reason: str, limit: int = 10, scan: int = 2000) -> list[Rejection]:
        """The newest rejections with this reason code, among the newest ``scan`` of all."""
        pipe = self._redis.pipeline(transaction=False)
        for k in self.keys.every_shard():
            pipe.zrevrange(k.rejections, 0, scan - 1, withscores=True)
        rows = sorted((r for shard in pipe.execute() for r in shard), key=lambda r: -r[1])
        ids = [as_str(i) for i, _ in rows[:scan]]
        found: list[Rejection] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for raw in self._get_many(lambda k: k.rejection, chunk):
                rejection = Rejection.model_validate_json(raw) if raw else None
                if rejection is not None and rejection.reason == reason:
                    found.append(rejection)
                    if len(found) == limit:
                        return found
        return found

    @guarded
    def workers_seen(self, within: float) -> list[tuple[str, float]]:
        """Workers whose heartbeat is at most ``within`` seconds old: (name, epoch seconds)."""
        seconds, _ = self._redis.time()
        rows: Any = self._redis.zrangebyscore(
            self.keys.workers, float(seconds) - within, "+inf", withscores=True
        )
        return [(as_str(name), float(at)) for name, at in rows]


def _state(url: str, raw: list[Any]) -> dict[str, Any]:
    fields = zip(STATE_FIELDS, raw, strict=True)
    return {"url": url} | {name: parse_field(name, value) for name, value in fields}


def _count(found: Activity, name: str, value: int) -> None:
    kind, _, rest = name.partition(":")
    if kind == "reason":
        found.reasons[rest] += value
    elif kind == "source":
        found.sources[rest] += value
    elif kind.isdigit() and rest in OUTCOMES:
        found.minutes.setdefault(int(kind), Counter())[rest] += value


def _ms(raw: bytes | str | None, now_ms: int) -> int | None:
    """A time in ms from a host hash, or None when absent or already past."""
    if not raw:
        return None
    value = int(float(as_str(raw)))
    return value if value > now_ms else None
