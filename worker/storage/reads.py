"""Every read of records, rejections and events: the one implementation behind the client.

:class:`worker.read.client.IngestClient` (what downstream services and the CLI use) is
this reader with a constructor from a URL. It uses plain Redis commands on the keys that
docs/consumers.md lists, so a service in another language can do the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from pydantic import ValidationError

from worker.core.events import STREAMS, Event
from worker.core.keys import Keys
from worker.core.models import Envelope, Outcome, Record, Rejection
from worker.storage import recordform
from worker.storage.connection import Redis, as_str, guarded, guarded_iter
from worker.storage.groups import GroupStream, from_entry

T = TypeVar("T")
# Below any real date (year 1 is about -6.2e10), so undated records sort last.
NO_DATE_SCORE = -1e15
# Index members one page of a filtered listing reads at most, and per round trip.
SCAN_BUDGET = 2000
FILTERED_CHUNK = 500
Bound = datetime | date | str | None
# Counting a group's lag by hand (Redis < 7) stops here: `ingest stats` must stay cheap.
LAG_COUNT_CAP = 100_000


def to_bound(value: Bound, *, end_of_day: bool) -> datetime | None:
    """An aware UTC bound from an ISO date/datetime string, a date or a datetime.

    Naive datetimes are UTC. A date-only upper bound (``end_of_day``) includes that day.
    Raises ValueError for a string that is neither.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text_value = value.strip()
        value = (
            date.fromisoformat(text_value)
            if len(text_value) == 10
            else datetime.fromisoformat(text_value.replace("Z", "+00:00"))
        )
    if not isinstance(value, datetime):
        moment = datetime.combine(value, time(0), UTC)
        return moment + timedelta(days=1, microseconds=-1) if end_of_day else moment
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a keyset page ends: the score of its last member, and how many had that score."""

    score: float
    passed: int


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


class RecordReader:
    """Reads records, rejections and events from one Redis, under one namespace."""

    def __init__(self, client: Redis, keys: Keys) -> None:
        self._redis = client
        self.keys = keys

    # -- records --------------------------------------------------------------------------

    @guarded
    def get(self, record_id: str) -> Record | None:
        """One record by id, or None."""
        raw: bytes | None = self._redis.get(self.keys.record(record_id))  # type: ignore[assignment]
        return recordform.to_record(raw) if raw else None

    @guarded
    def get_many(self, record_ids: list[str]) -> dict[str, Record]:
        """The records of these ids that exist, by id, in one round trip."""
        return {r.id: r for r in self._records(record_ids)} if record_ids else {}

    @guarded_iter
    def records(
        self,
        *,
        since: Bound = None,
        until: Bound = None,
        source: str | None = None,
        cluster: str | None = None,
        limit: int | None = None,
        page: int = 500,
    ) -> Iterator[Record]:
        """Records newest first by ``published``, a page at a time (``limit`` None: all).

        ``since``/``until`` are inclusive; with neither, undated records come last, and with
        a bound they are left out. ``cluster`` (a cluster id, see docs/consumers.md) lists
        one near-duplicate cluster, narrowed to ``source`` when both are given.
        """
        index, high, low = self._record_range(since, until, source, cluster)
        if cluster is not None and not self._redis.exists(index):
            # A record alone in its cluster has no set: the cluster is that record.
            yield from _limited(self._alone(cluster, high, low, source), limit)
            return
        both = cluster is not None and source is not None
        found = self._values(index, high, low, page, None if both else limit, self._records)
        yield from _limited((r for r in found if not both or r.source == source), limit)

    @guarded
    def record_page(
        self,
        *,
        since: Bound = None,
        until: Bound = None,
        source: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        after: Position | None = None,
    ) -> tuple[list[Record], Position | None]:
        """One page of :meth:`records` from ``after``, and where the next page starts (or None).

        ``kind`` (``seed``/``feed``) is applied here, reading on until the page is full.
        """
        index, high, low = self._record_range(since, until, source)
        return self._page(
            index,
            high,
            low,
            limit,
            after,
            self._load_records,
            lambda r: kind in (None, r.kind),
            filtered=kind is not None,
        )

    def _record_range(
        self, since: Bound, until: Bound, source: str | None, cluster: str | None = None
    ) -> tuple[str, float | str, float | str]:
        start, end = to_bound(since, end_of_day=False), to_bound(until, end_of_day=True)
        index = self.keys.by_published
        if cluster is not None:
            index = self.keys.cluster(cluster)
        elif source is not None:
            index = self.keys.by_source(source)
        low: float | str = start.timestamp() if start else "-inf"
        if start is None and end is not None:
            low = f"({NO_DATE_SCORE}"
        high = end.timestamp() if end else "+inf"
        return index, high, low

    def _alone(
        self, record_id: str, high: float | str, low: float | str, source: str | None
    ) -> Iterator[Record]:
        """The record that is a cluster of its own, if it is in the bounds and the source."""
        score = self._redis.zscore(self.keys.by_published, record_id)
        if score is None or not _in_range(float(score), low, high):
            return
        record = self.get(record_id)
        if record is not None and record.cluster == record_id and source in (None, record.source):
            yield record

    def _records(self, ids: list[str]) -> Iterator[Record]:
        yield from (r for r in self._load_records(ids) if r is not None)

    def _load_records(self, ids: list[str]) -> list[Record | None]:
        # None: pruned between the index read and this one.
        raws = self._redis.mget([self.keys.record(i) for i in ids])
        return [recordform.to_record(raw) if raw else None for raw in raws]

    @guarded
    def outcomes(self, input_id: str) -> list[Outcome] | None:
        """What became of one input: one outcome, or one per entry of a feed; None until all are.

        A seed, a feed that failed as a whole or was not modified has one outcome under its
        own id; a feed's entries have theirs under ``{input_id}#{n}``, and the feed's
        ``expanded`` count (stored before them) says how many (none: one entry).
        """
        keys = self.keys
        found: Any = self._redis.mget(
            [keys.outcome(input_id), keys.expanded(input_id), keys.outcome(f"{input_id}#0")]
        )
        whole, expanded, first = found
        if whole or not first:
            return [Outcome.model_validate_json(whole)] if whole else None
        rest = [keys.outcome(f"{input_id}#{n}") for n in range(1, int(expanded or 1))]
        raws = [first, *(self._redis.mget(rest) if rest else [])]
        if not all(raws):
            return None
        return [Outcome.model_validate_json(raw) for raw in raws]

    # -- rejections -----------------------------------------------------------------------

    @guarded_iter
    def rejections(
        self,
        *,
        since: Bound = None,
        until: Bound = None,
        reason: str | None = None,
        source: str | None = None,
        limit: int | None = None,
        page: int = 500,
    ) -> Iterator[Rejection]:
        """Rejections newest first by ``rejected_at``, filtered.

        ``reason`` is a code (``seed.bad_date``) or a family (``seed``).
        """
        high, low = _score_range(since, until)
        # Filters are applied here, so the index is read in full pages when there are any.
        unfiltered = reason is None and source is None
        found = self._values(
            self.keys.rejections, high, low, page, limit if unfiltered else None, self._rejs
        )
        wanted = (r for r in found if _matches(r, reason, source))
        yield from _limited(wanted, limit)

    @guarded
    def rejection_page(
        self,
        *,
        since: Bound = None,
        until: Bound = None,
        reason: str | None = None,
        source: str | None = None,
        limit: int = 100,
        after: Position | None = None,
    ) -> tuple[list[Rejection], Position | None]:
        """One page of :meth:`rejections` from ``after``, and where the next page starts."""
        high, low = _score_range(since, until)
        return self._page(
            self.keys.rejections,
            high,
            low,
            limit,
            after,
            self._load_rejections,
            lambda r: _matches(r, reason, source),
            filtered=reason is not None or source is not None,
        )

    def _rejs(self, ids: list[str]) -> Iterator[Rejection]:
        yield from (r for r in self._load_rejections(ids) if r is not None)

    def _load_rejections(self, ids: list[str]) -> list[Rejection | None]:
        raws = self._redis.mget([self.keys.rejection(i) for i in ids])
        return [Rejection.model_validate_json(raw) if raw else None for raw in raws]

    @guarded
    def rejection(self, input_id: str) -> Rejection | None:
        raw = self._redis.get(self.keys.rejection(input_id))
        return Rejection.model_validate_json(raw) if raw else None

    @guarded
    def payload(self, input_id: str) -> Envelope | None:
        """The original envelope of a rejected input, when it was kept for replay."""
        raw = self.kept_bytes(input_id)
        if raw is None:
            return None
        try:
            return Envelope.model_validate_json(raw)
        except ValidationError:  # the raw bytes of a malformed queue message: not replayable
            return None

    @guarded
    def kept_bytes(self, input_id: str) -> bytes | None:
        """The bytes kept with a rejection: its envelope, or a malformed message's raw bytes."""
        raw: bytes | None = self._redis.get(self.keys.payload(input_id))  # type: ignore[assignment]
        return raw

    @guarded
    def replayed_as(self, input_ids: list[str]) -> dict[str, str]:
        """For rejected inputs that were replayed: rejected input id -> new input id."""
        if not input_ids:
            return {}
        found: Any = self._redis.hmget(self.keys.replayed, input_ids)
        return {i: as_str(v) for i, v in zip(input_ids, found, strict=True) if v}

    # -- paging -----------------------------------------------------------------------------

    def _values(
        self,
        index: str,
        high: float | str,
        low: float | str,
        page: int,
        limit: int | None,
        fetch: Callable[[list[str]], Iterator[T]],
    ) -> Iterator[T]:
        size = page if limit is None else max(1, min(page, limit))
        for rows in self._pages(index, high, low, size):
            yield from fetch([member for member, _ in rows])

    def _page(
        self,
        index: str,
        high: float | str,
        low: float | str,
        limit: int,
        after: Position | None,
        load: Callable[[list[str]], list[T | None]],
        keep: Callable[[T], bool],
        filtered: bool = False,
    ) -> tuple[list[T], Position | None]:
        """Up to ``limit`` kept items from ``after``, and the position after the last one.

        A page reads at most SCAN_BUDGET index members: a filter that keeps few of them
        ends the page there, shorter than ``limit`` (even empty), with the position to go
        on from, instead of reading the whole index in one request.
        """
        found: list[T] = []
        read = 0
        size = FILTERED_CHUNK if filtered else max(1, min(limit, FILTERED_CHUNK))
        for rows in self._pages(index, high, low, size, after):
            for (_, position), item in zip(rows, load([m for m, _ in rows]), strict=True):
                read += 1
                if item is not None and keep(item):
                    found.append(item)
                    if len(found) >= limit:
                        return found, position
                if read >= SCAN_BUDGET:
                    return found, position
        return found, None

    def _pages(
        self,
        index: str,
        high: float | str,
        low: float | str,
        size: int,
        after: Position | None = None,
    ) -> Iterator[list[tuple[str, Position]]]:
        """Members of a zset newest first, by keyset: each page starts at the last score seen.

        An offset grows only within a run of equal scores, so a deep page costs what the
        first one does, and entries added above the current position never shift the pages.
        Each member comes with the position just after it, where a later read may resume.
        """
        top = after.score if after else None
        passed = after.passed if after else 0  # members already seen whose score is ``top``
        while True:
            bound = high if top is None else top
            rows: Any = self._redis.zrevrangebyscore(
                index, bound, low, start=passed, num=size, withscores=True
            )
            if not rows:
                return
            page = []
            for member, score in rows:
                top, passed = (top, passed + 1) if score == top else (score, 1)
                page.append((as_str(member), Position(score, passed)))
            yield page

    # -- events -----------------------------------------------------------------------------

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
        last = self._last_id(key) if start == "$" else start
        while stop is None or not stop.is_set():
            reply: Any = self._redis.xread({key: last}, count=500, block=int(block * 1000))
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    last = as_str(entry_id)
                    yield from_entry(stream, entry_id, fields)

    @guarded
    def events_after(self, stream: str, after: str, count: int = 500) -> list[Event]:
        """Events of a stream after id ``after``, without waiting: an empty list when none."""
        reply: Any = self._redis.xread({self.keys.events(_stream(stream)): after}, count=count)
        return [
            from_entry(stream, eid, fields) for _, entries in reply or [] for eid, fields in entries
        ]

    @guarded
    def last_event_id(self, stream: str) -> str:
        """The id of a stream's newest event (``0-0`` when it is empty)."""
        return self._last_id(self.keys.events(_stream(stream)))

    def _last_id(self, key: str) -> str:
        newest: Any = self._redis.xrevrange(key, count=1)
        return as_str(newest[0][0]) if newest else "0-0"

    def group_stream(self, stream: str, group: str, name: str) -> GroupStream:
        """The consumer-group commands for consumer ``name`` of ``group`` on ``stream``."""
        return GroupStream(self._redis, self.keys, _stream(stream), group, name)

    @guarded
    def groups(self, stream: str = "records") -> list[GroupInfo]:
        """The consumer groups of a stream with their pending count, lag and dead letters."""
        key = self.keys.events(_stream(stream))
        if not self._redis.exists(key):
            return []
        return [self._group(stream, key, raw) for raw in self._redis.xinfo_groups(key)]

    def _group(self, stream: str, key: str, raw: dict[str, Any]) -> GroupInfo:
        name, last = as_str(raw["name"]), as_str(raw["last-delivered-id"])
        lag = raw.get("lag")
        return GroupInfo(
            stream=stream,
            group=name,
            consumers=int(raw["consumers"]),
            pending=int(raw["pending"]),
            last_delivered_id=last,
            lag=int(lag) if lag is not None else self._count_after(key, last),
            dead_letters=int(self._redis.xlen(self.keys.dead_letter(stream, name))),
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


def _stream(name: str) -> str:
    if name not in STREAMS:
        raise ValueError(f"no stream {name!r}: one of {', '.join(STREAMS)}")
    return name


def _score_range(since: Bound, until: Bound) -> tuple[float | str, float | str]:
    start, end = to_bound(since, end_of_day=False), to_bound(until, end_of_day=True)
    return (end.timestamp() if end else "+inf"), (start.timestamp() if start else "-inf")


def _matches(rej: Rejection, reason: str | None, source: str | None) -> bool:
    if source is not None and rej.source != source:
        return False
    return reason is None or rej.reason == reason or rej.reason.startswith(reason + ".")


def _limited(items: Iterator[T], limit: int | None) -> Iterator[T]:
    if limit is not None and limit <= 0:
        return
    for n, item in enumerate(items, 1):
        yield item
        if limit is not None and n >= limit:
            return


def _in_range(score: float, low: float | str, high: float | str) -> bool:
    """Whether ``score`` lies between two ZRANGEBYSCORE bounds (``(x``: exclusive)."""

    def past(bound: float | str, sign: int) -> bool:
        text = str(bound)
        limit = float(text.removeprefix("("))
        return sign * score > sign * limit if text.startswith("(") else sign * score >= sign * limit

    return past(low, 1) and past(high, -1)
