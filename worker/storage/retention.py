"""Retention: keep the event streams bounded and drop records past their retention.

The store's scripts cap each stream as it grows (``XADD ... MAXLEN ~ INGEST_STREAM_MAXLEN``).
:func:`prune` (``ingest prune``, run it from cron or any scheduler) does the rest:

- every stream, dead-letter streams included, is trimmed to ``INGEST_STREAM_MAXLEN`` again
  (so a lowered cap takes effect) and, with ``INGEST_STREAM_MAX_AGE``, loses events older
  than that many seconds (``XTRIM MINID ~``). Both are approximate: Redis drops whole
  internal nodes (100 entries by default), so a stream may keep a few more;
- with ``INGEST_RECORD_RETENTION_DAYS``, records published before the cutoff are deleted
  with their index entries, atomically per batch; undated records are kept. No event is
  published for a pruned record, and the ``pruned`` counter of ``ingest stats`` grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from worker.core.events import STREAMS
from worker.storage import scripts
from worker.storage.connection import guarded
from worker.storage.reads import NO_DATE_SCORE, RecordReader
from worker.storage.store import Store


@dataclass
class PruneReport:
    """Records deleted and entries trimmed per stream key."""

    records: int = 0
    events: dict[str, int] = field(default_factory=dict)


@guarded
def prune(store: Store, *, now: datetime | None = None, batch: int = 500) -> PruneReport:
    """Apply the configured retention once."""
    now = now or datetime.now(UTC)
    report = PruneReport()
    for key in stream_keys(store.reader):
        report.events[key] = trim(store, key, now)
    days = store.settings.record_retention_days
    if days:
        report.records = prune_records(store, now - timedelta(days=days), batch)
    return report


def stream_keys(client: RecordReader) -> list[str]:
    """Every event stream: records, rejections and each group's dead letters."""
    keys = [client.keys.events(name) for name in STREAMS]
    for name in STREAMS:
        keys += [client.keys.dead_letter(name, g.group) for g in client.groups(name)]
    return keys


def trim(store: Store, key: str, now: datetime) -> int:
    """Trim one stream by length and, when configured, by age; returns entries removed."""
    settings, client = store.settings, store.client
    removed = int(client.xtrim(key, maxlen=settings.stream_maxlen, approximate=True))
    if settings.stream_max_age:
        oldest_ms = int((now.timestamp() - settings.stream_max_age) * 1000)
        removed += int(client.xtrim(key, minid=f"{oldest_ms}-0", approximate=True))
    return removed


def prune_records(store: Store, cutoff: datetime, batch: int) -> int:
    """Delete records published before ``cutoff``, ``batch`` ids per atomic script call."""
    keys, client = store.keys, store.client
    script = scripts.register(client, "prune.lua")
    low, high = f"({NO_DATE_SCORE}", f"({cutoff.timestamp()}"
    total = 0
    while ids := client.zrangebyscore(keys.by_published, low, high, start=0, num=batch):
        pruned = int(
            script(
                keys=[keys.by_published, keys.by_content_hash, keys.sources, keys.stats],
                args=[
                    cutoff.timestamp(),
                    NO_DATE_SCORE,
                    keys.record_prefix,
                    keys.by_source(""),
                    *ids,
                ],
            )
        )
        total += pruned
        if pruned == 0:
            break  # all of them were updated meanwhile: nothing older is left
    return total
