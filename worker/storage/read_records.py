"""Reads of records: by id, newest first by ``published``, by source, by near-dup cluster."""

from __future__ import annotations

from collections.abc import Iterator

from worker.core.models import Record
from worker.storage import recordform
from worker.storage.connection import guarded, guarded_iter
from worker.storage.reader import Position, Reader, limited
from worker.storage.scores import Bound, ScoreRange


class RecordReads(Reader):
    """Records of one namespace; every method raises StoreUnavailable on a transient fault."""

    @guarded
    def get(self, record_id: str) -> Record | None:
        """One record by id, or None."""
        raw: bytes | None = self._redis.get(self.keys.of(record_id).record(record_id))  # type: ignore[assignment]
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
        index, scores = self._index(source, cluster), ScoreRange.published(since, until)
        if cluster is not None and not self._redis.exists(self.keys.cluster(cluster)):
            # A record alone in its cluster has no set: the cluster is that record.
            yield from limited(self._alone(cluster, scores, source), limit)
            return
        both = cluster is not None and source is not None
        found = self._values(index, scores, page, None if both else limit, self._records)
        yield from limited((r for r in found if not both or r.source == source), limit)

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
        return self._page(
            self._index(source, None),
            ScoreRange.published(since, until),
            limit,
            after,
            self._load_records,
            lambda r: kind in (None, r.kind),
            filtered=kind is not None,
        )

    def _index(self, source: str | None, cluster: str | None) -> str | list[str]:
        """The zset to page: a cluster's (store-wide), else one per shard, merged."""
        if cluster is not None:
            return self.keys.cluster(cluster)
        shards = self.keys.every_shard()
        return [k.by_published if source is None else k.by_source(source) for k in shards]

    def _alone(self, record_id: str, scores: ScoreRange, source: str | None) -> Iterator[Record]:
        """The record that is a cluster of its own, if it is in the bounds and the source."""
        score = self._redis.zscore(self.keys.of(record_id).by_published, record_id)
        if score is None or not scores.contains(float(score)):
            return
        record = self.get(record_id)
        if record is not None and record.cluster == record_id and source in (None, record.source):
            yield record

    def _records(self, ids: list[str]) -> Iterator[Record]:
        yield from (r for r in self._load_records(ids) if r is not None)

    def _load_records(self, ids: list[str]) -> list[Record | None]:
        # None: pruned between the index read and this one.
        raws = self._get_many(lambda k: k.record, ids)
        return [recordform.to_record(raw) if raw else None for raw in raws]
