"""What the readers share: one Redis client, one namespace's keys, keyset paging.

The readers split by what they read (:mod:`worker.storage.read_records`,
:mod:`worker.storage.read_rejections`, :mod:`worker.storage.read_streams`);
:class:`worker.read.client.IngestClient` is all three, and the one read entry point of
the CLI, the API and downstream services.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from worker.core.keys import Keys
from worker.storage.connection import Redis, as_str
from worker.storage.scores import ScoreRange
from worker.storage.shards import stored_keys

T = TypeVar("T")
# Index members one page of a filtered listing reads at most, and per round trip.
SCAN_BUDGET = 2000
FILTERED_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Position:
    """Where a keyset page ends: the score of its last member, and how many had that score."""

    score: float
    passed: int


class Reader:
    """The Redis client and keys a reader works on, and keyset pages of a sorted set."""

    def __init__(self, client: Redis, keys: Keys | str) -> None:
        """``keys`` (a namespace: the store's own shard count, read on first use)."""
        self._redis = client
        self._keys = keys

    @property
    def keys(self) -> Keys:
        """The store's keys; its shard count is read until a writer has recorded one."""
        if isinstance(self._keys, Keys):
            return self._keys
        keys, recorded = stored_keys(self._redis, self._keys)
        if recorded:
            self._keys = keys
        return keys

    def _get_many(self, keys_of: Callable[[Keys], Callable[[str], str]], ids: list[str]) -> Any:
        """The values of one key per id (``keys_of(shard keys)(id)``), in one round trip."""
        if self.keys.shards == 1:
            return self._redis.mget([keys_of(self.keys)(i) for i in ids])
        pipe = self._redis.pipeline(transaction=False)
        for i in ids:
            pipe.get(keys_of(self.keys.of(i))(i))
        return pipe.execute()

    def _values(
        self,
        index: str | list[str],
        scores: ScoreRange,
        page: int,
        limit: int | None,
        fetch: Callable[[list[str]], Iterator[T]],
    ) -> Iterator[T]:
        size = page if limit is None else max(1, min(page, limit))
        for rows in self._pages(index, scores, size):
            yield from fetch([member for member, _ in rows])

    def _page(
        self,
        index: str | list[str],
        scores: ScoreRange,
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
        for rows in self._pages(index, scores, size, after):
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
        self, index: str | list[str], scores: ScoreRange, size: int, after: Position | None = None
    ) -> Iterator[list[tuple[str, Position]]]:
        """Members of a zset (or of one per shard, merged) newest first, by keyset."""
        if isinstance(index, str):
            yield from self._shard_pages(index, scores, size, after)
            return
        if len(index) == 1:
            yield from self._shard_pages(index[0], scores, size, after)
            return
        yield from _paged(self._merged(index, scores, size, after), size)

    def _merged(
        self, indexes: list[str], scores: ScoreRange, size: int, after: Position | None
    ) -> Iterator[tuple[str, Position]]:
        """The members of every shard's zset in one order: score, then member, descending
        (each shard's own order), with positions counted over all shards."""
        start = Position(after.score, 0) if after else None
        streams = [
            (
                (member, pos.score)
                for page in self._shard_pages(i, scores, size, start)
                for member, pos in page
            )
            for i in indexes
        ]
        top = after.score if after else None
        skip = after.passed if after else 0
        passed = 0
        merged = heapq.merge(*streams, key=lambda row: (-row[1], _Desc(row[0])))
        for member, score in merged:
            if score == top and skip > 0:
                skip, passed = skip - 1, passed + 1
                continue
            top, passed = (top, passed + 1) if score == top else (score, 1)
            yield member, Position(score, passed)

    def _shard_pages(
        self, index: str, scores: ScoreRange, size: int, after: Position | None = None
    ) -> Iterator[list[tuple[str, Position]]]:
        """Members of a zset newest first, by keyset: each page starts at the last score seen.

        An offset grows only within a run of equal scores, so a deep page costs what the
        first one does, and entries added above the current position never shift the pages.
        Each member comes with the position just after it, where a later read may resume.
        """
        top = after.score if after else None
        passed = after.passed if after else 0  # members already seen whose score is ``top``
        while True:
            high, low = (scores if top is None else scores.up_to(top)).redis_args()
            rows: Any = self._redis.zrevrangebyscore(
                index, high, low, start=passed, num=size, withscores=True
            )
            if not rows:
                return
            page = []
            for member, score in rows:
                top, passed = (top, passed + 1) if score == top else (score, 1)
                page.append((as_str(member), Position(score, passed)))
            yield page


class _Desc(str):
    """A string that sorts backwards (members of equal score: Redis's reverse order)."""

    __slots__ = ()

    def __lt__(self, other: str) -> bool:
        return str.__gt__(self, other)


def _paged(rows: Iterator[tuple[str, Position]], size: int) -> Iterator[list[tuple[str, Position]]]:
    page: list[tuple[str, Position]] = []
    for row in rows:
        page.append(row)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


def limited(items: Iterator[T], limit: int | None) -> Iterator[T]:
    """At most ``limit`` items (None: all; 0 or less: none)."""
    if limit is not None and limit <= 0:
        return
    for n, item in enumerate(items, 1):
        yield item
        if limit is not None and n >= limit:
            return
