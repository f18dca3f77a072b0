"""The record store on one Redis, under one namespace. Every outcome write is one Lua call.

Writes are idempotent per input: the outcome key is checked and set inside the same
script that stores the record, so a redelivered task returns the outcome it had the first
time and changes nothing (no second record, event or count).

:class:`Store` holds the writes of outcomes and the counters; the other concerns live in
their own modules and hang off it: ``store.ledger`` (batches in flight, parked bytes),
``store.replies`` (what a waiting ``ingest run`` reads), ``store.feeds`` (per-feed state)
and ``store.hosts`` (per-host politeness). Reads are not here: they go through
:class:`worker.read.client.IngestClient` (:mod:`worker.storage.reader`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.exceptions import NoScriptError

from worker.core.errors import Reason, StoreContention
from worker.core.keys import Keys
from worker.core.models import (
    Accepted,
    NotModified,
    Outcome,
    Prepared,
    Record,
    Refused,
)
from worker.core.settings import Settings
from worker.storage import recordform
from worker.storage.connection import Redis, as_strs, connect, guarded, wait_ready
from worker.storage.feedstate import FeedState
from worker.storage.hosts import HostGate
from worker.storage.ledger import Ledger
from worker.storage.payloads import TOTAL as PAYLOAD_BYTES
from worker.storage.payloads import Payloads
from worker.storage.read_records import RecordReads
from worker.storage.replies import Replies
from worker.storage.scores import NO_DATE_SCORE
from worker.storage.scriptcalls import (
    DecideCall,
    ExpandCall,
    NotModifiedCall,
    RejectCall,
    UpsertCall,
)
from worker.storage.scripts import Scripts
from worker.storage.shards import claim_shards, wait_replicated, writer_keys
from worker.text import bandspec
from worker.text.changes import diff, paragraph_hashes

COUNTERS = ("records", "updates", "duplicates", "rejections", "enqueued", "expanded", "pruned")
# Rounds of "the record changed under us, diff again" before a commit gives up
# (StoreContention, a transient error), each after a random pause of up to
# STALE_PAUSE * 2**round seconds (capped at 0.05 s), so that writers racing on one
# record spread out instead of losing to one another in step.
STALE_ROUNDS = 20
STALE_PAUSE = 0.0005


@dataclass(frozen=True, slots=True)
class ChangeBase:
    """The version a change set was computed from (its content hash) and the change set."""

    content_hash: str = ""
    added: str = ""
    removed: str = ""
    changed: str = ""

    @classmethod
    def between(cls, old: Record | None, new: Record) -> ChangeBase:
        """The paragraph change set from ``old`` (None: no stored version) to ``new``."""
        if old is None:
            return cls()
        changes = diff(_hashes(old), _hashes(new))
        return cls(
            old.content_hash,
            *(",".join(map(str, ns)) for ns in (changes.added, changes.removed, changes.changed)),
        )


def _hashes(record: Record) -> list[str]:
    return record.paragraph_hashes or paragraph_hashes(record.paragraphs)


MAX_SEEN_IN = 20


def _score(published: datetime | None) -> float:
    return published.timestamp() if published is not None else NO_DATE_SCORE


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Store:
    """Outcome writes, delivery counts and counters, with the other concerns attached."""

    def __init__(self, client: Redis, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.keys: Keys = writer_keys(client, settings)
        self._shards_claimed = False
        self.ledger = Ledger(client, self.keys, settings.outcome_ttl)
        self.replies = Replies(client, self.keys, settings.outcome_ttl)
        self.feeds = FeedState(client, self.keys, settings)
        self.hosts = HostGate(client, self.keys)
        self.scripts = Scripts(client)
        self.payloads = Payloads(client, self.keys, settings)

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> Store:
        return cls(connect(url), settings)

    def close(self) -> None:
        self.client.close()

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
        An update needs the change set from the stored version: the first round assumes
        there is none, and the script refuses (``stale``, writing nothing) a record whose
        stored content differs from the version the change set was computed from; those
        are read, diffed and sent again.

        On a sharded store (docs/redis-layout.md) each record takes two steps, both
        idempotent: ``decide.lua`` in the store-wide slot, then ``upsert.lua`` in the shard
        of the record it writes (:meth:`_commit_sharded`).
        """
        if not self._shards_claimed:
            claim_shards(self.client, self.keys)
            self._shards_claimed = True
        if self.keys.shards > 1:
            try:
                return self._commit_sharded(items, reply_to, settled)
            except NoScriptError:  # a promoted replica has no scripts: every step is idempotent
                self.scripts.reload()
                return self._commit_sharded(items, reply_to, settled)
        pipe = self.client.pipeline(transaction=False)
        reply = self.keys.reply(reply_to) if reply_to else ""
        now = _iso_now()
        for item in items:
            if isinstance(item, Accepted):
                self._queue_upsert(pipe, item, reply, now, ChangeBase())
            elif isinstance(item, NotModified):
                self._queue_not_modified(pipe, item, reply)
            else:
                self._queue_reject(pipe, item, reply)
        kept = _payload_sizes(items)
        self.payloads.queue_expiry(pipe, list(kept))
        if settled:
            pipe.delete(*(self.keys.deliveries(i) for i in settled))
        done = pipe.execute()
        self._kept(kept, done[len(items) : len(items) + len(kept)])
        results = self._settle_stale(items, done[: len(items)], reply, now)
        return [_outcome(raw) for raw in results]

    def _commit_sharded(
        self, items: Sequence[Prepared], reply_to: str | None, settled: Sequence[str]
    ) -> list[Outcome]:
        """:meth:`commit` on more than one shard: read, decide, write, then reply.

        The stored versions are read first (so an update carries its change set from the
        start); each record's store-wide step answers where and how it is written; each
        script then writes to one slot. The run's reply list gets every outcome after the
        writes (a redelivery may push one twice: the run keeps one per input).
        """
        now = _iso_now()
        accepted = {n: item for n, item in enumerate(items) if isinstance(item, Accepted)}
        olds = RecordReads(self.client, self.keys).get_many(
            [a.record.id for a in accepted.values()]
        )
        pipe = self.client.pipeline(transaction=False)
        for new in accepted.values():
            self._queue_decide(pipe, new, olds.get(new.record.id))
        decided = {n: _bytes(raw).decode() for n, raw in zip(accepted, pipe.execute(), strict=True)}
        pipe = self.client.pipeline(transaction=False)
        for n, item in enumerate(items):
            if isinstance(item, Accepted):
                base = ChangeBase.between(olds.get(item.record.id), item.record)
                self._queue_upsert(pipe, item, "", now, base, decided[n])
            elif isinstance(item, NotModified):
                self._queue_not_modified(
                    pipe, item, self.keys.of(item.item_id).outcome(item.item_id)
                )
            else:
                self._queue_reject(pipe, item, self.keys.of(item.item_id).outcome(item.item_id))
        kept = _payload_sizes(items)
        self.payloads.queue_expiry(pipe, list(kept))
        done = pipe.execute()
        self._kept(kept, done[len(items) : len(items) + len(kept)])
        results = self._settle_stale(items, done[: len(items)], "", now, decided)
        post = self.client.pipeline(transaction=False)
        if reply_to:
            post.rpush(self.keys.reply(reply_to), *results)
            post.expire(self.keys.reply(reply_to), self.settings.outcome_ttl)
        for input_id in settled:
            post.delete(self.keys.deliveries(input_id))
        post.execute()
        wait_replicated(self.client)
        return [_outcome(raw) for raw in results]

    def _queue_decide(self, pipe: Any, item: Accepted, old: Record | None) -> None:
        k, rec = self.keys, item.record
        signature, min_slots = self._signature(item)
        call = DecideCall(
            by_content_hash_key=k.by_content_hash,
            tombstones_key=k.tombstones,
            neardup_seq_key=k.neardup_seq,
            neardup_ids_key=k.neardup_ids,
            neardup_scores_key=k.neardup_scores,
            record_id=rec.id,
            content_hash=rec.content_hash,
            prev_hash=old.content_hash if old is not None else "",
            kind=rec.kind,
            now_epoch=time.time(),
            score=_score(rec.published),
            neardup_prefix=k.neardup_prefix,
            cluster_prefix=k.cluster_prefix,
            min_slots=min_slots,
            signature=signature,
            bands=bandspec.BANDS,
            rows=bandspec.ROWS,
            shard_fields=bandspec.SHARD_FIELDS,
            neardup_shard_prefix=k.neardup_shard_prefix,
        )
        self.scripts.run(call, pipe)

    def _signature(self, item: Accepted) -> tuple[bytes, int]:
        """The signature to file (none with near-duplicates off) and its min_slots."""
        on = self.settings.neardup and bool(item.signature)
        signature = item.signature if on else b""
        slots = len(signature) // bandspec.SLOT_BYTES
        return signature, bandspec.min_equal_slots(self.settings.neardup_threshold, slots)

    def _kept(self, sizes: dict[str, int], exists: list[Any]) -> None:
        """Index the payloads that were written (those that exist) and apply their cap."""
        found = {i: n for (i, n), there in zip(sizes.items(), exists, strict=True) if there}
        self.payloads.kept(found, time.time())

    def _settle_stale(
        self,
        items: Sequence[Prepared],
        results: list[Any],
        reply: str,
        now: str,
        decided: dict[int, str] | None = None,
    ) -> list[Any]:
        """Send again, with a fresh change set, the upserts the script found stale."""
        for round_ in range(STALE_ROUNDS):
            stale = [n for n, raw in enumerate(results) if b'"stale":true' in _bytes(raw)]
            if not stale:
                return results
            time.sleep(random.uniform(0, min(0.05, STALE_PAUSE * 2**round_)))
            accepted = [items[n] for n in stale]
            by_item = dict(zip(stale, accepted, strict=True))
            olds = RecordReads(self.client, self.keys).get_many([a.record.id for a in accepted])  # type: ignore[union-attr]
            pipe = self.client.pipeline(transaction=False)
            for n, item in by_item.items():
                assert isinstance(item, Accepted)
                base = ChangeBase.between(olds.get(item.record.id), item.record)
                self._queue_upsert(pipe, item, reply, now, base, (decided or {}).get(n, ""))
            for n, raw in zip(stale, pipe.execute(), strict=True):
                results[n] = raw
        raise StoreContention(f"records changed under {STALE_ROUNDS} rounds of updates")

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

    @guarded
    def seen(self, input_id: str) -> bool:
        """Whether this input (or the first entry of a feed input) has an outcome stored.

        On a sharded store an upsert's outcome lives with its record: every shard is asked.
        """
        pipe = self.client.pipeline(transaction=False)
        for k in self.keys.every_shard():
            for name in (input_id, input_id + "#0"):
                pipe.exists(k.outcome(name))
        return any(pipe.execute())

    def _queue_upsert(
        self,
        pipe: Any,
        item: Accepted,
        reply: str,
        now: str,
        base: ChangeBase,
        decided: str = "",
    ) -> None:
        rec = item.record
        # A feed entry with another record's content is written in that record's shard.
        owner = orjson.loads(decided).get("owner") if decided else None
        k = self.keys.of(owner or rec.id)
        meta, packed = recordform.encode(rec)
        signature, min_slots = self._signature(item)
        # With decide.lua's answer the store-wide keys are not touched: the shard's own
        # sources key stands in for them, so that every key named is in the shard's slot.
        local = k.sources if decided else None
        call = UpsertCall(
            outcome_key=k.outcome(item.item_id),
            record_key=k.record(rec.id),
            by_published_key=k.by_published,
            by_source_key=k.by_source(rec.source),
            sources_key=k.sources,
            by_content_hash_key=local or k.by_content_hash,
            record_events_key=k.record_events,
            stats_key=k.stats,
            reply_key=reply or (k.outcome(item.item_id) if decided else ""),
            tombstones_key=local or k.tombstones,
            neardup_seq_key=local or k.neardup_seq,
            neardup_ids_key=local or k.neardup_ids,
            meta=meta,
            record_id=rec.id,
            content_hash=rec.content_hash,
            score=_score(rec.published),
            source=rec.source,
            now_iso=now,
            outcome_ttl=self.settings.outcome_ttl,
            stream_maxlen=self.settings.stream_maxlen,
            input_id=item.item_id,
            kind=rec.kind,
            by_source_prefix=k.by_source_prefix,
            packed_paragraphs=packed,
            entry_url=rec.url or "",
            now_epoch=time.time(),
            record_prefix=k.record_prefix,
            max_seen_in=MAX_SEEN_IN,
            neardup_prefix=k.neardup_prefix,
            cluster_prefix=k.cluster_prefix,
            min_slots=min_slots,
            base_hash=base.content_hash,
            paragraphs_added=base.added,
            paragraphs_removed=base.removed,
            paragraphs_changed=base.changed,
            signature=signature,
            bands=bandspec.BANDS,
            rows=bandspec.ROWS,
            shard_fields=bandspec.SHARD_FIELDS,
            neardup_shard_prefix=k.neardup_shard_prefix,
            activity_prefix=k.activity_prefix,
            decided=decided,
        )
        self.scripts.run(call, pipe)

    @guarded
    def reject_unqueued(self, item: Refused) -> Outcome:
        """Store the rejection of an input no producer counted (a message made by hand).

        The input is counted as enqueued in the same script, so the counters add up; a
        second copy of the same input changes nothing.
        """
        pipe = self.client.pipeline(transaction=False)
        self._queue_reject(pipe, item, "", count_input=True)
        kept = _payload_sizes([item])
        self.payloads.queue_expiry(pipe, list(kept))
        raw, *exists = pipe.execute()
        self._kept(kept, exists)
        return _outcome(raw)

    def _queue_reject(
        self, pipe: Any, item: Refused, reply: str, count_input: bool = False
    ) -> None:
        k, rej = self.keys.of(item.item_id), item.rejection
        at = rej.rejected_at
        call = RejectCall(
            outcome_key=k.outcome(item.item_id),
            rejection_key=k.rejection(item.item_id),
            rejections_key=k.rejections,
            payload_key=k.payload(item.item_id),
            rejection_events_key=k.rejection_events,
            stats_key=k.stats,
            reply_key=reply or self._no_reply(k, item.item_id),
            reasons_key=k.rejection_reasons,
            rejection=rej.model_dump_json(),
            input_id=item.item_id,
            rejected_at=at.timestamp(),
            payload=item.payload or b"",
            outcome_ttl=self.settings.outcome_ttl,
            stream_maxlen=self.settings.stream_maxlen,
            reason=rej.reason,
            source=rej.source,
            rejected_at_iso=rej.model_dump(mode="json")["rejected_at"],
            count_input="1" if count_input else "",
            activity_prefix=k.activity_prefix,
        )
        self.scripts.run(call, pipe)

    def _queue_not_modified(self, pipe: Any, item: NotModified, reply: str) -> None:
        k = self.keys.of(item.item_id)
        call = NotModifiedCall(
            outcome_key=k.outcome(item.item_id),
            stats_key=k.stats,
            reply_key=reply or self._no_reply(k, item.item_id),
            input_id=item.item_id,
            source=item.source,
            outcome_ttl=self.settings.outcome_ttl,
            reason=Reason.FEED_NOT_MODIFIED,
            activity_prefix=k.activity_prefix,
        )
        self.scripts.run(call, pipe)

    def _no_reply(self, k: Keys, input_id: str) -> str:
        """The reply key that says "no reply": '', or on shards the outcome key (same slot)."""
        return k.outcome(input_id) if self.keys.shards > 1 else ""

    @guarded
    def expand(self, entries: dict[str, int]) -> None:
        """Record that feed inputs became this many entries each (see ``lua/expand.lua``)."""
        if entries:
            call = ExpandCall(
                stats_key=self.keys.stats,
                expanded_keys=[self.keys.expanded(i) for i in entries],
                ttl=self.settings.outcome_ttl,
                entry_counts=list(entries.values()),
            )
            self.scripts.run(call)

    @guarded
    def mark_replayed(self, mapping: dict[str, str]) -> None:
        """Remember which new input each replayed rejection became."""
        if mapping:
            self.client.hset(self.keys.replayed, mapping=mapping)  # type: ignore[arg-type]

    # -- counters -----------------------------------------------------------------------

    @guarded
    def stats(self) -> dict[str, int]:
        """Live counters; ``queued`` is inputs enqueued and not yet decided.

        A feed is one input when enqueued and one per entry once parsed: ``expanded``
        counts the difference, so ``enqueued + expanded`` is every input.
        """
        pipe = self.client.pipeline(transaction=False)
        for k in self.keys.every_shard():
            pipe.hgetall(k.stats)
            pipe.xlen(k.record_events)
            pipe.xlen(k.rejection_events)
        replies = pipe.execute()
        counts = dict.fromkeys(COUNTERS, 0)
        record_events = rejection_events = 0
        for raw, records, rejections in zip(*[iter(replies)] * 3, strict=True):
            for name in COUNTERS:
                counts[name] += int(raw.get(name.encode(), 0))
            record_events += int(records)
            rejection_events += int(rejections)
        done = sum(counts[n] for n in ("records", "updates", "duplicates", "rejections"))
        counts["queued"] = max(counts["enqueued"] + counts["expanded"] - done, 0)
        counts["record_events"] = int(record_events)
        counts["rejection_events"] = int(rejection_events)
        counts[PAYLOAD_BYTES] = int(raw.get(PAYLOAD_BYTES.encode(), 0))
        return counts

    @guarded
    def rejection_reasons(self) -> dict[str, int]:
        """Rejections counted per reason code (they add up to ``stats()["rejections"]``)."""
        pipe = self.client.pipeline(transaction=False)
        for k in self.keys.every_shard():
            pipe.hgetall(k.rejection_reasons)
        counts: dict[str, int] = {}
        for raw in pipe.execute():
            for reason, n in zip(as_strs(raw), raw.values(), strict=True):
                counts[reason] = counts.get(reason, 0) + int(n)
        return counts

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until Redis answers, or raise StoreUnavailable."""
        wait_ready(self.client, timeout)


def _bytes(raw: bytes | str) -> bytes:
    return raw if isinstance(raw, bytes) else raw.encode()


def _payload_sizes(items: Sequence[Prepared]) -> dict[str, int]:
    """Input id -> bytes of each payload the rejections among ``items`` keep."""
    return {i.item_id: len(i.payload) for i in items if isinstance(i, Refused) and i.payload}


def _outcome(raw: bytes | str) -> Outcome:
    data = orjson.loads(raw)
    return Outcome(
        source=data["source"],
        outcome=data["outcome"],
        id=data.get("id"),
        reason=data.get("reason"),
        input_id=data["input_id"],
    )
