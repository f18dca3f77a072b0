"""Payloads kept for replay: each expires, and all of them together stay under a byte cap.

A rejected input's original bytes (``ns:payload:{input_id}``, written by reject.lua) are
kept for ``ingest rejections replay``. Each expires after ``INGEST_PAYLOAD_TTL`` seconds;
``ns:idx:payloads`` orders them by when they were kept and ``ns:payload_sizes`` holds
their sizes, whose sum is the ``payload_bytes`` counter of ``ns:stats``. Past
``INGEST_PAYLOAD_MAX_BYTES`` the oldest are dropped (their rejections stay, replay then
says ``no payload kept``). ``ingest prune`` removes the expired ones from the index and
counts the total again from the sizes, so a worker that died between two of these steps
leaves the total right at the next prune.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from worker.core.keys import Keys
from worker.core.settings import Settings
from worker.storage.connection import Redis, as_strs

TOTAL = "payload_bytes"  # the field of ns:stats
CHUNK = 500  # expired payloads dropped per round trip
DROP = 20  # oldest payloads looked at per round trip while over the cap


class Payloads:
    """The index, sizes and total of the payloads kept with rejections."""

    def __init__(self, client: Redis, keys: Keys, settings: Settings) -> None:
        self.client, self.keys, self.settings = client, keys, settings

    def queue_expiry(self, pipe: Any, input_ids: Sequence[str]) -> None:
        """Queue a TTL on each payload (after the scripts that wrote them); one result each.

        The result is true when the payload exists: only those are indexed by :meth:`kept`.
        """
        ttl = self.settings.payload_ttl
        for input_id in input_ids:
            key = self.keys.of(input_id).payload(input_id)
            # Set again on a redelivery: later by the redelivery's delay, which is harmless
            # (prune goes by the index), and EXPIRE NX would need Redis 7.
            if ttl:
                pipe.expire(key, ttl)
            else:
                pipe.exists(key)

    def kept(self, sizes: dict[str, int], now: float) -> None:
        """Index payloads just written, count the new ones' bytes, then apply the cap."""
        if not sizes:
            return
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(self.keys.payloads, dict.fromkeys(sizes, now), nx=True)
        for input_id, size in sizes.items():
            pipe.hsetnx(self.keys.payload_sizes, input_id, size)
        new = pipe.execute()[1:]
        added = sum(size for size, fresh in zip(sizes.values(), new, strict=True) if fresh)
        total = int(self.client.hincrby(self.keys.stats, TOTAL, added)) if added else 0
        if total > self.settings.payload_max_bytes:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        """Drop the oldest payloads, as few as bring the total under the cap."""
        while (excess := self.total() - self.settings.payload_max_bytes) > 0:
            oldest = as_strs(self.client.zrange(self.keys.payloads, 0, DROP - 1))
            if not oldest:
                return
            chosen, freed = [], 0
            for input_id, size in zip(oldest, self._sizes(oldest), strict=True):
                chosen.append(input_id)
                freed += size
                if freed >= excess:
                    break
            self._drop(chosen)

    def total(self) -> int:
        """Bytes of the payloads kept (the ``payload_bytes`` counter)."""
        return int(self.client.hget(self.keys.stats, TOTAL) or 0)

    def _sizes(self, input_ids: list[str]) -> list[int]:
        found: Any = self.client.hmget(self.keys.payload_sizes, input_ids)
        return [int(n or 0) for n in found]

    def _drop(self, input_ids: list[str]) -> int:
        """Delete payloads and their sizes; take what was counted off the total."""
        sizes = self._sizes(input_ids)
        pipe = self.client.pipeline(transaction=False)
        for input_id in input_ids:  # one DEL each: on shards the keys are in many slots
            pipe.delete(self.keys.of(input_id).payload(input_id))
        pipe.zrem(self.keys.payloads, *input_ids)
        for input_id in input_ids:
            pipe.hdel(self.keys.payload_sizes, input_id)
        gone = pipe.execute()[len(input_ids) + 1 :]
        # Only the caller whose HDEL removed a size takes it off: concurrent drops count once.
        freed = sum(size for size, g in zip(sizes, gone, strict=True) if g)
        if freed:
            self.client.hincrby(self.keys.stats, TOTAL, -freed)
        return len(input_ids)

    def prune(self, now: float) -> int:
        """Remove the expired payloads from the index; count the total again. How many."""
        removed = 0
        if self.settings.payload_ttl:
            cutoff = now - self.settings.payload_ttl
            while ids := self.client.zrangebyscore(
                self.keys.payloads, "-inf", cutoff, start=0, num=CHUNK
            ):
                removed += self._drop(as_strs(ids))
        sizes: Any = self.client.hvals(self.keys.payload_sizes)
        self.client.hset(self.keys.stats, TOTAL, sum(int(n) for n in sizes))
        self._drop_oldest()
        return removed
