"""Every Redis key and stream name, under one namespace prefix. Nothing else builds keys.

A Lua script that reaches a key it only learns at run time (a record by id, a source's
index, a near-duplicate entry or bucket shard, a cluster) is given that key's prefix
from here as a named argument (see docs/redis-layout.md for which script takes which).

Layout (``ns`` is ``INGEST_NAMESPACE``, default ``ingest``)::

    ns:record:{id}            string   record: meta JSON, newline, zlib-packed paragraphs
                                       (schema version 2, the first stored format)
    ns:idx:published          zset     record ids by published epoch seconds (-1e15: no date)
    ns:idx:source:{source}    zset     record ids of one source, same scores
    ns:sources                set      every source name seen
    ns:idx:content_hash       hash     content_hash -> record id
    ns:stream:records         stream   created / updated events
    ns:rejection:{input_id}   string   rejection JSON
    ns:idx:rejections         zset     rejection input ids by rejected_at
    ns:payload:{input_id}     string   original bytes of a rejected input, for replay (expires)
    ns:idx:payloads           zset     input ids whose payload is kept, by when it was kept
    ns:payload_sizes          hash     input id -> bytes of its kept payload
    ns:stream:rejections      stream   rejected events
    ns:input:{input_id}       string   the outcome of one input (expires)
    ns:stats                  hash     counters: records, updates, duplicates, rejections,
                                       enqueued, expanded (extra inputs from feed entries),
                                       pruned (records deleted by retention),
                                       payload_bytes (the sum of ns:payload_sizes)
    ns:stats:rejections       hash     rejection reason code -> count
    ns:reply:{run_id}         list     outcomes pushed for one `ingest run` (expires)
    ns:deliveries:{input_id}  string   deliveries of an input lost with its worker (expires)
    ns:feed:{url}             hash     per-feed state: etag, last_modified (fetch); interval,
                                       next_poll, last_*, failures
                                       (worker/storage/feedstate.py; expires after the
                                       last fetch: INGEST_FEED_STATE_TTL)
    ns:pending                zset     batch ids published and not yet done, by publish time
    ns:recovery:lock:{queue}  string   held by the worker sweeping a queue for lost batches
                                       (expires)
    ns:beat:leader            string   the id of the beat that schedules (a lease: expires
                                       unless that beat renews it; worker/queue/beatlead.py)
    ns:parked:{batch_id}      hash     input_id -> document bytes of a queued batch (the task
                                       id), and ``~messages``: its messages, to publish
                                       again, and ``~queue``: the queue they went to;
                                       dropped once the batch is stored (expires)
    ns:feeds                  set      feed URLs with state
    ns:expanded:{input_id}    string   entries a feed input expanded into (expires)
    ns:stream:{name}          stream   events by stream name (records, rejections)
    ns:dead:{name}:{group}    stream   dead letters of one consumer group on stream {name}
    ns:replayed               hash     rejected input id -> input id it was replayed as
    ns:host:{host}            hash     feed host politeness: next start, blocked until (ms,
                                       Redis clock; expires)
    ns:host:{host}:leases     zset     fetches under way on a host: input id -> lease end
    ns:host:{host}:pages      string   article pages of the host held back (a page's
                                       Retry-After; expires then)
    ns:slot:{input_id}        string   the start reserved for a deferred feed fetch (expires)
    ns:tombstones             zset     "id:{id}" and "hash:{content_hash}" of pruned records
                                       -> epoch seconds until which they stay deleted
    ns:cluster:{id}           zset     record ids of one near-duplicate cluster of two or
                                       more records, scored as ns:idx:published (a record
                                       alone in its cluster has none)
    ns:nd:{seq}               string   the near-duplicate entry of the seq-th record indexed:
                                       its packed signature (worker.text.bandspec), then
                                       its cluster id
    ns:nd:seq                 string   counter of records indexed for near-duplicates
    ns:nd:ids                 hash     record id -> its seq in the near-duplicate index
    ns:nd:b{level}:{band}:{top}  hash  one shard of the LSH buckets: band value (2 * rows
                                       signature bytes) -> seqs of the records in that
                                       bucket, space-separated, earliest first (capped);
                                       {top} is the value's top bits (worker.text.bandspec)
    ns:activity:{hour}        hash     outcomes of one epoch hour (Redis's clock), counted
                                       where they are written (lua/outcome.lua):
                                       "{epoch minute}:{outcome}", "reason:{code}" per
                                       rejection, "source:{source}" per created record
                                       (expires after 26 hours)
    ns:workers                zset     worker name -> epoch seconds of its last heartbeat
                                       (names silent for a day are dropped)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """Key builder bound to one namespace."""

    ns: str

    def record(self, record_id: str) -> str:
        return self.record_prefix + record_id

    @property
    def record_prefix(self) -> str:
        """Prefix of record keys (``+ id``): for the scripts, and for scans."""
        return f"{self.ns}:record:"

    @property
    def by_published(self) -> str:
        return f"{self.ns}:idx:published"

    def by_source(self, source: str) -> str:
        return self.by_source_prefix + source

    @property
    def by_source_prefix(self) -> str:
        """Prefix of the per-source indexes (``+ source``), for the scripts."""
        return f"{self.ns}:idx:source:"

    @property
    def sources(self) -> str:
        return f"{self.ns}:sources"

    @property
    def by_content_hash(self) -> str:
        return f"{self.ns}:idx:content_hash"

    @property
    def record_events(self) -> str:
        return f"{self.ns}:stream:records"

    def rejection(self, input_id: str) -> str:
        return f"{self.ns}:rejection:{input_id}"

    @property
    def rejections(self) -> str:
        return f"{self.ns}:idx:rejections"

    def payload(self, input_id: str) -> str:
        return f"{self.ns}:payload:{input_id}"

    @property
    def payloads(self) -> str:
        return f"{self.ns}:idx:payloads"

    @property
    def payload_sizes(self) -> str:
        return f"{self.ns}:payload_sizes"

    @property
    def rejection_events(self) -> str:
        return f"{self.ns}:stream:rejections"

    def outcome(self, input_id: str) -> str:
        return f"{self.ns}:input:{input_id}"

    @property
    def stats(self) -> str:
        return f"{self.ns}:stats"

    @property
    def rejection_reasons(self) -> str:
        return f"{self.ns}:stats:rejections"

    def reply(self, run_id: str) -> str:
        return f"{self.ns}:reply:{run_id}"

    def deliveries(self, input_id: str) -> str:
        return f"{self.ns}:deliveries:{input_id}"

    @property
    def pending(self) -> str:
        return f"{self.ns}:pending"

    def recovery_lock(self, queue: str) -> str:
        return f"{self.ns}:recovery:lock:{queue}"

    @property
    def beat_leader(self) -> str:
        return f"{self.ns}:beat:leader"

    def parked(self, batch_id: str) -> str:
        return f"{self.ns}:parked:{batch_id}"

    def feed_state(self, url: str) -> str:
        return f"{self.ns}:feed:{url}"

    @property
    def feeds(self) -> str:
        return f"{self.ns}:feeds"

    def expanded(self, input_id: str) -> str:
        return f"{self.ns}:expanded:{input_id}"

    def events(self, name: str) -> str:
        """The event stream called ``name`` (``records`` or ``rejections``)."""
        return f"{self.ns}:stream:{name}"

    def dead_letter(self, name: str, group: str) -> str:
        """Events a consumer group on stream ``name`` gave up on, with their delivery count."""
        return f"{self.ns}:dead:{name}:{group}"

    @property
    def replayed(self) -> str:
        return f"{self.ns}:replayed"

    def host(self, host: str) -> str:
        return f"{self.ns}:host:{host}"

    def host_leases(self, host: str) -> str:
        return f"{self.ns}:host:{host}:leases"

    def host_pages(self, host: str) -> str:
        return f"{self.ns}:host:{host}:pages"

    def host_slot(self, input_id: str) -> str:
        return f"{self.ns}:slot:{input_id}"

    @property
    def tombstones(self) -> str:
        return f"{self.ns}:tombstones"

    def cluster(self, cluster_id: str) -> str:
        return self.cluster_prefix + cluster_id

    @property
    def cluster_prefix(self) -> str:
        """Prefix of the cluster sets (``+ cluster id``), for the scripts."""
        return f"{self.ns}:cluster:"

    def neardup(self, seq: int | str) -> str:
        return f"{self.neardup_prefix}{seq}"

    @property
    def neardup_prefix(self) -> str:
        """Prefix of the near-duplicate entries (``+ seq``), for the scripts."""
        return f"{self.ns}:nd:"

    @property
    def neardup_seq(self) -> str:
        return f"{self.ns}:nd:seq"

    @property
    def neardup_ids(self) -> str:
        return f"{self.ns}:nd:ids"

    @property
    def neardup_shard_prefix(self) -> str:
        """Prefix of the LSH bucket shards (``+ {level}:{band}:{top}``), for the scripts."""
        return f"{self.ns}:nd:b"

    def activity(self, hour: int) -> str:
        """The activity counters of epoch hour ``hour`` (epoch seconds // 3600)."""
        return f"{self.activity_prefix}{hour}"

    @property
    def activity_prefix(self) -> str:
        """Prefix of the hourly activity counters (``+ epoch hour``), for the scripts."""
        return f"{self.ns}:activity:"

    @property
    def workers(self) -> str:
        return f"{self.ns}:workers"
