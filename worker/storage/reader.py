"""What the readers share: one Redis client, one namespace's keys, keyset paging.

The readers split by what they read (:mod:`worker.storage.read_records`,
:mod:`worker.storage.read_rejections`, :mod:`worker.storage.read_streams`);
:class:`worker.read.client.IngestClient` is all three, and the one read entry point of
the CLI, the API and downstream services.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from worker.core.keys import Keys
from worker.storage.connection import Redis, as_str
from worker.storage.scores import ScoreRange

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

    def __init__(self, client: Redis, keys: Keys) -> None:
        self._redis = client
        self.keys = keys

    def _values(
        self,
        index: str,
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
        index: str,
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


def limited(items: Iterator[T], limit: int | None) -> Iterator[T]:
    """At most ``limit`` items (None: all; 0 or less: none)."""
    if limit is not None and limit <= 0:
        return
    for n, item in enumerate(items, 1):
        yield item
        if limit is not None and n >= limit:
            return
