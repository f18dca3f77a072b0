"""Retention: keep the event streams bounded and drop records past their retention.

The store's scripts cap each stream as it grows (``XADD ... MAXLEN ~ INGEST_STREAM_MAXLEN``).
:func:`prune` (``ingest prune``, run it from cron or any scheduler) does the rest:

- every stream, dead-letter streams included, is trimmed to ``INGEST_STREAM_MAXLEN`` again
  (so a lowered cap takes effect) and, with ``INGEST_STREAM_MAX_AGE``, loses events older
  than that many seconds (``XTRIM MINID ~``). Both are approximate: Redis drops whole
  internal nodes (100 entries by default), so a stream may keep a few more;
- with ``INGEST_RECORD_RETENTION_DAYS``, records published before the cutoff are deleted
  with their index entries, near-duplicate cluster membership and look-up entries,
  atomically per batch; undated records are kept. Each deleted
  record publishes a ``deleted`` event (``reason=retention``) on the record stream and
  leaves tombstones, its id and its content hash, for ``INGEST_TOMBSTONE_TTL`` seconds:
  an entry still in its feed then ends as a ``duplicate`` (reason ``record.deleted``)
  instead of coming back as a new record. At most ``INGEST_TOMBSTONE_MAX`` tombstones are
  kept (the oldest go first); expired ones are dropped at each prune. The ``pruned``
  counter of ``ingest stats`` grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from worker.core.events import STREAMS
from worker.core.keys import Keys
from worker.storage.connection import as_strs, guarded
from worker.storage.read_streams import StreamReads
from worker.storage.scores import NO_DATE_SCORE, ScoreRange
from worker.storage.scriptcalls import ForgetCall, PruneCall
from worker.storage.store import Store
from worker.text import bandspec


@dataclass
class PruneReport:
    """Records deleted and entries trimmed per stream key."""

    records: int = 0
    events: dict[str, int] = field(default_factory=dict)
    payloads: int = 0
    feeds: int = 0


@guarded
def prune(store: Store, *, now: datetime | None = None, batch: int = 500) -> PruneReport:
    """Apply the configured retention once."""
    now = now or datetime.now(UTC)
    report = PruneReport()
    for key in stream_keys(StreamReads(store.client, store.keys)):
        report.events[key] = trim(store, key, now)
    days = store.settings.record_retention_days
    if days:
        report.records = prune_records(store, now - timedelta(days=days), batch, now)
    trim_tombstones(store, now)
    report.payloads = store.payloads.prune(now.timestamp())
    report.feeds = store.feeds.forget_expired()
    return report


def trim_tombstones(store: Store, now: datetime) -> None:
    """Drop expired tombstones, then the oldest beyond ``INGEST_TOMBSTONE_MAX``."""
    key = store.keys.tombstones
    store.client.zremrangebyscore(key, "-inf", now.timestamp())
    # Two per record (id and content hash); the earliest expiry is the oldest.
    store.client.zremrangebyrank(key, 0, -(2 * store.settings.tombstone_max) - 1)


def stream_keys(client: StreamReads) -> list[str]:
    """Every event stream: records, rejections and each group's dead letters."""
    shards = client.keys.every_shard()
    keys = [k.events(name) for name in STREAMS for k in shards]
    for name in STREAMS:
        keys += [k.dead_letter(name, g.group) for g in client.groups(name) for k in shards]
    return keys


def trim(store: Store, key: str, now: datetime) -> int:
    """Trim one stream by length and, when configured, by age; returns entries removed."""
    settings, client = store.settings, store.client
    removed = int(client.xtrim(key, maxlen=settings.stream_maxlen, approximate=True))
    if settings.stream_max_age:
        oldest_ms = int((now.timestamp() - settings.stream_max_age) * 1000)
        removed += int(client.xtrim(key, minid=f"{oldest_ms}-0", approximate=True))
    return removed


@guarded
def prune_records(store: Store, cutoff: datetime, batch: int, now: datetime) -> int:
    """Delete records published before ``cutoff``, ``batch`` ids per atomic script call.

    On a sharded store each shard is pruned in turn, each batch in two steps: the
    store-wide entries first (``forget.lua``), then the records in their shard.
    """
    return sum(_prune_shard(store, k, cutoff, batch, now) for k in store.keys.every_shard())


def _prune_shard(store: Store, keys: Keys, cutoff: datetime, batch: int, now: datetime) -> int:
    client, settings = store.client, store.settings
    sharded = keys.shards > 1
    at = now.isoformat(timespec="microseconds").replace("+00:00", "Z")
    older = ScoreRange(NO_DATE_SCORE, cutoff.timestamp(), low_open=True, high_open=True)
    high, low = older.redis_args()
    until = now.timestamp() + settings.tombstone_ttl
    # On shards the store-wide keys are forget.lua's: the shard's sources key stands in.
    local = keys.sources if sharded else None
    total = 0
    while ids := client.zrangebyscore(keys.by_published, low, high, start=0, num=batch):
        if sharded:
            _forget(store, keys, as_strs(ids), until)
        call = PruneCall(
            by_published_key=keys.by_published,
            by_content_hash_key=local or keys.by_content_hash,
            sources_key=keys.sources,
            stats_key=keys.stats,
            tombstones_key=local or keys.tombstones,
            record_events_key=keys.record_events,
            neardup_seq_key=local or keys.neardup_seq,
            neardup_ids_key=local or keys.neardup_ids,
            cutoff=cutoff.timestamp(),
            no_date_score=NO_DATE_SCORE,
            record_prefix=keys.record_prefix,
            by_source_prefix=keys.by_source_prefix,
            now_iso=at,
            tombstones_until=until,
            stream_maxlen=settings.stream_maxlen,
            neardup_prefix=keys.neardup_prefix,
            cluster_prefix=keys.cluster_prefix,
            neardup_shard_prefix=keys.neardup_shard_prefix,
            bands=bandspec.BANDS,
            rows=bandspec.ROWS,
            shard_fields=bandspec.SHARD_FIELDS,
            store_wide="" if sharded else "1",
            record_ids=as_strs(ids),
        )
        pruned = int(store.scripts.run(call))
        total += pruned
        if pruned == 0:
            break  # all of them were updated meanwhile: nothing older is left
    return total


def _forget(store: Store, keys: Keys, ids: list[str], until: float) -> None:
    """The store-wide entries of these records (of one shard): forget.lua."""
    raws: Any = store.client.mget([keys.record(i) for i in ids])
    records: list[str] = []
    for raw in raws:
        if raw:
            meta = orjson.loads(raw.split(b"\n", 1)[0])
            cluster = meta.get("cluster")
            records += [
                meta["id"],
                meta["content_hash"],
                cluster if isinstance(cluster, str) else "",
            ]
    if records:
        store.scripts.run(
            ForgetCall(
                by_content_hash_key=keys.by_content_hash,
                tombstones_key=keys.tombstones,
                neardup_seq_key=keys.neardup_seq,
                neardup_ids_key=keys.neardup_ids,
                neardup_scores_key=keys.neardup_scores,
                tombstones_until=until,
                neardup_prefix=keys.neardup_prefix,
                cluster_prefix=keys.cluster_prefix,
                neardup_shard_prefix=keys.neardup_shard_prefix,
                bands=bandspec.BANDS,
                rows=bandspec.ROWS,
                shard_fields=bandspec.SHARD_FIELDS,
                records=records,
            )
        )
