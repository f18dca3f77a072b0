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
    ns:nd:lsh:{band}:{shard}  hash     one shard of the LSH buckets of a band: band value
                                       (2 * rows signature bytes) -> seqs of the records in
                                       that bucket, space-separated, earliest first
                                       (capped); one shard per 40 records indexed, grown by
                                       linear hashing (worker.text.bandspec)
    ns:activity:{hour}        hash     outcomes of one epoch hour (Redis's clock), counted
                                       where they are written (lua/outcome.lua):
                                       "{epoch minute}:{outcome}", "reason:{code}" per
                                       rejection, "source:{source}" per created record
                                       (expires after 26 hours)
    ns:workers                zset     worker name -> epoch seconds of its last heartbeat
                                       (names silent for a day are dropped)

Shards (``INGEST_STORE_SHARDS``, docs/redis-layout.md): with one shard (a single server)
the layout is the one above, byte for byte. With N > 1 (a Redis Cluster) every key of a
record's shard carries a hash tag (:func:`shard_tag`), ``ns:{s07-12}:record:{id}``, so
that one script touches one slot: shard ``i`` is :meth:`Keys.shard`, a record's shard
:meth:`Keys.of`. What is global to the store sits in a slot of its own: the content-hash
index, the tombstones and the near-duplicate index under ``ns:{g}:`` (written by
``decide.lua`` before the record's own script), a feed's state and the feed set under
``ns:{feeds}:``, a host's politeness keys under ``ns:{h:host}:``. The rest (replies,
delivery counters, the ledger, ``replayed``, ``shards``) are single-key and keep their
names.

    ns:shards                 string   the store's shard count, written once (SET NX)
    ns:{g}:nd:score           hash     (N > 1) record id -> published score, for clusters
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, replace

SLOTS = 16384  # Redis Cluster's hash slots


def _crc_entry(byte: int) -> int:
    crc = byte << 8
    for _ in range(8):
        crc = (((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


_CRC_TABLE = tuple(_crc_entry(b) for b in range(256))


def crc16(data: bytes) -> int:
    """CRC-16/XMODEM (polynomial 0x1021, initial 0): Redis Cluster's key hash."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[(crc >> 8) ^ byte]
    return crc


@functools.lru_cache(maxsize=4096)
def shard_tag(index: int, shards: int) -> str:
    """The hash tag of shard ``index`` of ``shards``: ``s07``, else the first of ``s07-1``,
    ``s07-2``... whose slot is in the shard's own range ``[index, index + 1) * 16384 /
    shards``. A cluster whose primaries hold equal runs of slots (what ``--cluster
    create`` makes) then holds the same number of shards on each, and so of records."""
    low, high = index * SLOTS // shards, (index + 1) * SLOTS // shards
    tag, n = f"s{index:02d}", 0
    while not low <= crc16(tag.encode()) % SLOTS < high:
        n += 1
        tag = f"s{index:02d}-{n}"
    return tag


@dataclass(frozen=True)
class Keys:
    """Key builder bound to one namespace, and to one shard of ``shards``."""

    ns: str
    shards: int = 1
    index: int = 0

    @property
    def _base(self) -> str:
        """The prefix of this shard's keys: ``ns:`` alone when there is one shard."""
        return (
            f"{self.ns}:"
            if self.shards == 1
            else f"{self.ns}:{{{shard_tag(self.index, self.shards)}}}:"
        )

    @property
    def _global(self) -> str:
        """The prefix of the store-wide indexes (content hashes, tombstones, near-dups)."""
        return f"{self.ns}:" if self.shards == 1 else f"{self.ns}:{{g}}:"

    def shard(self, index: int) -> Keys:
        """The keys of shard ``index`` (0 <= index < shards)."""
        return replace(self, index=index)

    def shard_of(self, name: str) -> int:
        """The shard of a record id (or an input id): a stable hash, mod the shard count."""
        if self.shards == 1:
            return 0
        digest = hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.shards

    def of(self, name: str) -> Keys:
        """The keys of the shard ``name`` (a record id or an input id) lives in."""
        return self.shard(self.shard_of(name))

    def every_shard(self) -> list[Keys]:
        """The keys of each shard, in shard order."""
        return [self.shard(i) for i in range(self.shards)]

    @property
    def shard_count(self) -> str:
        """The shard count the store was created with (written once)."""
        return f"{self.ns}:shards"

    @property
    def neardup_scores(self) -> str:
        return f"{self._global}nd:score"

    def record(self, record_id: str) -> str:
        return self.record_prefix + record_id

    @property
    def record_prefix(self) -> str:
        """Prefix of record keys (``+ id``): for the scripts, and for scans."""
        return f"{self._base}record:"

    @property
    def by_published(self) -> str:
        return f"{self._base}idx:published"

    def by_source(self, source: str) -> str:
        return self.by_source_prefix + source

    @property
    def by_source_prefix(self) -> str:
        """Prefix of the per-source indexes (``+ source``), for the scripts."""
        return f"{self._base}idx:source:"

    @property
    def sources(self) -> str:
        return f"{self._base}sources"

    @property
    def by_content_hash(self) -> str:
        return f"{self._global}idx:content_hash"

    @property
    def record_events(self) -> str:
        return f"{self._base}stream:records"

    def rejection(self, input_id: str) -> str:
        return f"{self._base}rejection:{input_id}"

    @property
    def rejections(self) -> str:
        return f"{self._base}idx:rejections"

    def payload(self, input_id: str) -> str:
        return f"{self._base}payload:{input_id}"

    @property
    def payloads(self) -> str:
        return f"{self.ns}:idx:payloads"

    @property
    def payload_sizes(self) -> str:
        return f"{self.ns}:payload_sizes"

    @property
    def rejection_events(self) -> str:
        return f"{self._base}stream:rejections"

    def outcome(self, input_id: str) -> str:
        return f"{self._base}input:{input_id}"

    @property
    def stats(self) -> str:
        return f"{self._base}stats"

    @property
    def rejection_reasons(self) -> str:
        return f"{self._base}stats:rejections"

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

    @property
    def _feeds(self) -> str:
        return f"{self.ns}:" if self.shards == 1 else f"{self.ns}:{{feeds}}:"

    def feed_state(self, url: str) -> str:
        return f"{self._feeds}feed:{url}"

    @property
    def feeds(self) -> str:
        return f"{self._feeds}feeds"

    def expanded(self, input_id: str) -> str:
        return f"{self._base}expanded:{input_id}"

    def events(self, name: str) -> str:
        """The event stream called ``name`` (``records`` or ``rejections``)."""
        return f"{self._base}stream:{name}"

    def dead_letter(self, name: str, group: str) -> str:
        """Events a consumer group on stream ``name`` gave up on, with their delivery count."""
        return f"{self._base}dead:{name}:{group}"

    @property
    def replayed(self) -> str:
        return f"{self.ns}:replayed"

    def _host(self, host: str) -> str:
        return f"{self.ns}:" if self.shards == 1 else f"{self.ns}:{{h:{host}}}:"

    def host(self, host: str) -> str:
        return f"{self._host(host)}host:{host}"

    def host_leases(self, host: str) -> str:
        return f"{self._host(host)}host:{host}:leases"

    def host_pages(self, host: str) -> str:
        return f"{self._host(host)}host:{host}:pages"

    def host_slot(self, input_id: str, host: str) -> str:
        """The start reserved for a deferred fetch of ``input_id`` from ``host``."""
        return f"{self._host(host)}slot:{input_id}"

    @property
    def tombstones(self) -> str:
        return f"{self._global}tombstones"

    def cluster(self, cluster_id: str) -> str:
        return self.cluster_prefix + cluster_id

    @property
    def cluster_prefix(self) -> str:
        """Prefix of the cluster sets (``+ cluster id``), for the scripts."""
        return f"{self._global}cluster:"

    def neardup(self, seq: int | str) -> str:
        return f"{self.neardup_prefix}{seq}"

    @property
    def neardup_prefix(self) -> str:
        """Prefix of the near-duplicate entries (``+ seq``), for the scripts."""
        return f"{self._global}nd:"

    @property
    def neardup_seq(self) -> str:
        return f"{self._global}nd:seq"

    @property
    def neardup_ids(self) -> str:
        return f"{self._global}nd:ids"

    @property
    def neardup_shard_prefix(self) -> str:
        """Prefix of the LSH bucket shards (``+ {band}:{shard}``), for the scripts."""
        return f"{self._global}nd:lsh:"

    def activity(self, hour: int) -> str:
        """The activity counters of epoch hour ``hour`` (epoch seconds // 3600)."""
        return f"{self.activity_prefix}{hour}"

    @property
    def activity_prefix(self) -> str:
        """Prefix of the hourly activity counters (``+ epoch hour``), for the scripts."""
        return f"{self._base}activity:"

    @property
    def workers(self) -> str:
        return f"{self.ns}:workers"
