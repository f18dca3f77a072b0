"""Redis writes and reads. Every write of an input's outcome is one atomic Lua call.

Writes are idempotent per input: the outcome key is checked and set inside the same
script that stores the record, so a redelivered task returns the outcome it had the first
time and changes nothing (no second record, event or count).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import cached_property
from importlib import resources
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import orjson
import redis

from worker.errors import Reason, StoreUnavailable
from worker.keys import Keys
from worker.models import (
    OPTIONAL_RECORD_FIELDS,
    Accepted,
    NotModified,
    Outcome,
    Prepared,
    Record,
    Refused,
    Rejection,
)
from worker.settings import Settings

if TYPE_CHECKING:
    from worker.client import IngestClient

P = ParamSpec("P")
T = TypeVar("T")
# Below any real date (year 1 is about -6.2e10), so undated records sort last.
NO_DATE_SCORE = -1e15
COUNTERS = ("records", "updates", "duplicates", "rejections", "enqueued", "expanded", "pruned")


def _lua(name: str) -> str:
    return resources.files("worker").joinpath("lua", name).read_text()


def connect(url: str) -> redis.Redis:
    """A client for ``url`` with timeouts and retries on a dropped connection."""
    return redis.Redis.from_url(
        url,
        socket_timeout=30,
        socket_connect_timeout=5,
        health_check_interval=15,
        retry_on_timeout=True,
    )


def guarded(func: Callable[P, T]) -> Callable[P, T]:
    """Turn Redis connection faults into StoreUnavailable (a transient error)."""

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except (
            redis.ConnectionError,
            redis.TimeoutError,
            redis.BusyLoadingError,
            # A full or read-only (failed-over) Redis: the batch must wait, not be dropped.
            redis.exceptions.OutOfMemoryError,
            redis.exceptions.ReadOnlyError,
        ) as e:
            raise StoreUnavailable(f"redis unavailable: {e}") from e

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def record_body(record: Record) -> bytes:
    """Record JSON without ingested_at and version (the store's script adds them)."""
    data = record.model_dump(mode="json", exclude={"ingested_at", "version"})
    for name in OPTIONAL_RECORD_FIELDS:
        if data.get(name) is None:
            data.pop(name, None)
    return orjson.dumps(data)


def _score(published: datetime | None) -> float:
    return published.timestamp() if published is not None else NO_DATE_SCORE


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Store:
    """The record store on one Redis, under one namespace."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.keys = Keys(settings.namespace)
        self._upsert = client.register_script(_lua("upsert.lua"))
        self._reject = client.register_script(_lua("reject.lua"))
        self._not_modified = client.register_script(_lua("not_modified.lua"))
        self._expand = client.register_script(_lua("expand.lua"))

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> Store:
        return cls(connect(url), settings)

    # -- writes ---------------------------------------------------------------------

    @guarded
    def commit(
        self,
        items: Sequence[Prepared],
        *,
        reply_to: str | None = None,
        settled: Sequence[str] = (),
    ) -> list[Outcome]:
        """Store records and rejections, one atomic script call each, in one round trip.

        ``settled`` input ids have their delivery counters dropped in the same round trip.
        """
        pipe = self.client.pipeline(transaction=False)
        reply = self.keys.reply(reply_to) if reply_to else ""
        now = _iso_now()
        for item in items:
            if isinstance(item, Accepted):
                self._queue_upsert(pipe, item, reply, now)
            elif isinstance(item, NotModified):
                self._queue_not_modified(pipe, item, reply)
            else:
                self._queue_reject(pipe, item, reply)
        if settled:
            pipe.delete(*(self.keys.deliveries(i) for i in settled))
        results = pipe.execute()
        return [_outcome(raw) for raw in results[: len(items)]]

    @guarded
    def claim(self, input_ids: Sequence[str]) -> list[int]:
        """Count one more started delivery of each input; returns the new counts.

        A counter that is not dropped by ``commit(settled=...)`` or ``release`` marks a
        delivery that died with its worker.
        """
        pipe = self.client.pipeline(transaction=False)
        for input_id in input_ids:
            pipe.incr(self.keys.deliveries(input_id))
            pipe.expire(self.keys.deliveries(input_id), self.settings.outcome_ttl)
        return [int(n) for n in pipe.execute()[::2]]

    @guarded
    def release(self, input_ids: Sequence[str]) -> None:
        """Take back a claim: the delivery ended without dying (it failed or will retry)."""
        pipe = self.client.pipeline(transaction=False)
        for input_id in input_ids:
            # EXPIRE again: a DECR after the counter was settled recreates the key.
            pipe.decr(self.keys.deliveries(input_id))
            pipe.expire(self.keys.deliveries(input_id), self.settings.outcome_ttl)
        pipe.execute()

    def _queue_upsert(self, pipe: Any, item: Accepted, reply: str, now: str) -> None:
        k, rec = self.keys, item.record
        self._upsert(
            keys=[
                k.outcome(item.item_id),
                k.record(rec.id),
                k.by_published,
                k.by_source(rec.source),
                k.sources,
                k.by_content_hash,
                k.record_events,
                k.stats,
                reply,
            ],
            args=[
                record_body(rec),
                rec.id,
                rec.content_hash,
                _score(rec.published),
                rec.source,
                now,
                self.settings.outcome_ttl,
                self.settings.stream_maxlen,
                item.item_id,
                rec.kind,
                k.by_source(""),
            ],
            client=pipe,
        )

    def _queue_reject(self, pipe: Any, item: Refused, reply: str) -> None:
        k, rej = self.keys, item.rejection
        at = rej.rejected_at
        self._reject(
            keys=[
                k.outcome(item.item_id),
                k.rejection(item.item_id),
                k.rejections,
                k.payload(item.item_id),
                k.rejection_events,
                k.stats,
                reply,
                k.rejection_reasons,
            ],
            args=[
                rej.model_dump_json(),
                item.item_id,
                at.timestamp(),
                item.payload or b"",
                self.settings.outcome_ttl,
                self.settings.stream_maxlen,
                rej.reason,
                rej.source,
                rej.model_dump(mode="json")["rejected_at"],
            ],
            client=pipe,
        )

    def _queue_not_modified(self, pipe: Any, item: NotModified, reply: str) -> None:
        k = self.keys
        self._not_modified(
            keys=[k.outcome(item.item_id), k.stats, reply],
            args=[item.item_id, item.source, self.settings.outcome_ttl, Reason.FEED_NOT_MODIFIED],
            client=pipe,
        )

    @guarded
    def expand(self, entries: dict[str, int]) -> None:
        """Record that feed inputs became this many entries each (see ``lua/expand.lua``)."""
        if entries:
            self._expand(
                keys=[self.keys.stats, *(self.keys.expanded(i) for i in entries)],
                args=[self.settings.outcome_ttl, *entries.values()],
            )

    @guarded
    def remember_batch(self, batch_id: str, messages: bytes | None, count: int) -> None:
        """Count a published batch's inputs as enqueued and keep it in the ledger.

        The ledger holds the batch until a worker is done with it (worker.recovery); no
        ``messages``: a broker that acknowledges deliveries itself, nothing to keep.
        """
        pipe = self.client.pipeline(transaction=False)
        if messages is not None:
            pipe.set(self.keys.batch(batch_id), messages, ex=self.settings.outcome_ttl)
            pipe.zadd(self.keys.pending, {batch_id: time.time()})
        pipe.hincrby(self.keys.stats, "enqueued", count)
        pipe.execute()

    @guarded
    def forget_batch(self, batch_id: str) -> None:
        """A batch is done: drop it from the ledger, and its parked bytes (worker.parked)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(self.keys.pending, batch_id)
        pipe.delete(self.keys.batch(batch_id), self.keys.parked(batch_id))
        pipe.execute()

    @guarded
    def pending_batches(self, older_than: float) -> list[tuple[str, bytes | None]]:
        """Ledger entries published more than ``older_than`` seconds ago, with their messages."""
        ids = _strs(self.client.zrangebyscore(self.keys.pending, "-inf", time.time() - older_than))
        if not ids:
            return []
        raw: list[bytes | None] = self.client.mget([self.keys.batch(i) for i in ids])  # type: ignore[assignment]
        return list(zip(ids, raw, strict=True))

    @guarded
    def touch_batch(self, batch_id: str) -> None:
        """Restart a ledger entry's clock (it was just published again)."""
        self.client.zadd(self.keys.pending, {batch_id: time.time()}, xx=True)

    @guarded
    def park(self, batch_id: str, data: Mapping[str, bytes]) -> None:
        """Keep the document bytes of a batch about to be published, for its worker."""
        key = self.keys.parked(batch_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(key, mapping=data)  # type: ignore[arg-type]
        pipe.expire(key, self.settings.outcome_ttl)
        pipe.execute()

    @guarded
    def parked(self, batch_id: str, input_ids: Sequence[str]) -> list[bytes | None]:
        """The parked bytes of these inputs of a batch (None where missing)."""
        found: list[bytes | None] = self.client.hmget(self.keys.parked(batch_id), input_ids)  # type: ignore[assignment]
        return found

    @guarded
    def unpark(self, batch_id: str) -> None:
        """Drop the parked bytes of a batch that was never published."""
        self.client.delete(self.keys.parked(batch_id))

    @guarded
    def add_enqueued(self, count: int) -> None:
        """Count inputs handed to the queue (stats' ``queued`` is enqueued minus done)."""
        self.client.hincrby(self.keys.stats, "enqueued", count)

    @guarded
    def mark_done(self, reply_to: str, done: Sequence[tuple[str, int]]) -> None:
        """Tell a waiting `ingest run` which inputs have every item's outcome stored.

        ``done`` holds (input id, item count) pairs; all markers go in one round trip.
        """
        if not done:
            return
        key = self.keys.reply(reply_to)
        markers = [orjson.dumps({"done": input_id, "items": items}) for input_id, items in done]
        pipe = self.client.pipeline(transaction=False)
        pipe.rpush(key, *markers)
        pipe.expire(key, self.settings.outcome_ttl)
        pipe.execute()

    # -- reads ----------------------------------------------------------------------

    @cached_property
    def reader(self) -> IngestClient:
        """The read side over this store's connection (worker.client: one implementation)."""
        from worker.client import IngestClient

        return IngestClient(self.client, self.settings.namespace)

    def get(self, record_id: str) -> Record | None:
        return self.reader.get(record_id)

    @guarded
    def outcome_of(self, input_id: str) -> dict[str, Any] | None:
        raw = self.client.get(self.keys.outcome(input_id))
        return orjson.loads(raw) if raw else None

    def records(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        source: str | None = None,
        limit: int | None = 100,
        page: int = 500,
    ) -> Iterator[Record]:
        """Records newest first by published, filtered, fetched a page at a time."""
        return self.reader.records(since=since, until=until, source=source, limit=limit, page=page)

    def rejections(self, *, limit: int | None = 100) -> Iterator[Rejection]:
        """Rejections, newest first."""
        return self.reader.rejections(limit=limit)

    @guarded
    def stats(self) -> dict[str, int]:
        """Live counters; ``queued`` is inputs enqueued and not yet decided.

        A feed is one input when enqueued and one per entry once parsed: ``expanded``
        counts the difference, so ``enqueued + expanded`` is every input.
        """
        raw = self.client.hgetall(self.keys.stats)
        counts = {name: int(raw.get(name.encode(), 0)) for name in COUNTERS}
        done = sum(counts[n] for n in ("records", "updates", "duplicates", "rejections"))
        counts["queued"] = max(counts["enqueued"] + counts["expanded"] - done, 0)
        counts["record_events"] = int(self.client.xlen(self.keys.record_events))
        counts["rejection_events"] = int(self.client.xlen(self.keys.rejection_events))
        return counts

    @guarded
    def rejection_reasons(self) -> dict[str, int]:
        """Rejections counted per reason code (they add up to ``stats()["rejections"]``)."""
        raw = self.client.hgetall(self.keys.rejection_reasons)
        return dict(zip(_strs(raw), (int(v) for v in raw.values()), strict=True))

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until Redis answers, or raise StoreUnavailable."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.client.ping()
                return
            except (redis.ConnectionError, redis.BusyLoadingError) as e:
                if time.monotonic() > deadline:
                    raise StoreUnavailable(f"redis unavailable: {e}") from e
                time.sleep(0.2)


def _strs(values: Any) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _outcome(raw: bytes | str) -> Outcome:
    data = orjson.loads(raw)
    return Outcome(
        source=data["source"],
        outcome=data["outcome"],
        id=data.get("id"),
        reason=data.get("reason"),
        input_id=data["input_id"],
    )
