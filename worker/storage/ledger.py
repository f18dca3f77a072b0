"""Batches in flight: the producer's ledger and the document bytes parked for a batch.

See :mod:`worker.queue.recovery` for why the ledger exists and
:mod:`worker.pipeline.parked` for parked bytes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from worker.core.keys import Keys
from worker.storage.connection import Redis, as_strs, guarded


class Ledger:
    """Published batches not yet done (``ns:pending``, ``ns:batch:*``) and parked bytes."""

    def __init__(self, client: Redis, keys: Keys, ttl: int) -> None:
        self.client, self.keys, self.ttl = client, keys, ttl

    @guarded
    def remember(self, batch_id: str, messages: bytes | None, count: int) -> None:
        """Count a published batch's inputs as enqueued and keep it in the ledger.

        No ``messages``: a broker that acknowledges deliveries itself, nothing to keep.
        """
        pipe = self.client.pipeline(transaction=False)
        if messages is not None:
            pipe.set(self.keys.batch(batch_id), messages, ex=self.ttl)
            pipe.zadd(self.keys.pending, {batch_id: time.time()})
        pipe.hincrby(self.keys.stats, "enqueued", count)
        pipe.execute()

    @guarded
    def forget(self, batch_id: str) -> None:
        """A batch is done: drop it from the ledger, with its parked bytes."""
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(self.keys.pending, batch_id)
        pipe.delete(self.keys.batch(batch_id), self.keys.parked(batch_id))
        pipe.execute()

    @guarded
    def pending(self, older_than: float) -> list[tuple[str, bytes | None]]:
        """Entries published more than ``older_than`` seconds ago, with their messages."""
        cutoff = time.time() - older_than
        ids = as_strs(self.client.zrangebyscore(self.keys.pending, "-inf", cutoff))
        if not ids:
            return []
        raw: list[bytes | None] = self.client.mget([self.keys.batch(i) for i in ids])  # type: ignore[assignment]
        return list(zip(ids, raw, strict=True))

    @guarded
    def touch(self, batch_id: str) -> None:
        """Restart an entry's clock (it was just published again)."""
        self.client.zadd(self.keys.pending, {batch_id: time.time()}, xx=True)

    @guarded
    def lock_sweep(self, seconds: int) -> bool:
        """Take the sweep lock for ``seconds``; False when another worker holds it."""
        return bool(self.client.set(self.keys.recovery_lock, "1", nx=True, ex=max(1, seconds)))

    @guarded
    def park(self, batch_id: str, data: Mapping[str, bytes]) -> None:
        """Keep the document bytes of a batch about to be published, for its worker."""
        key = self.keys.parked(batch_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(key, mapping=data)  # type: ignore[arg-type]
        pipe.expire(key, self.ttl)
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
