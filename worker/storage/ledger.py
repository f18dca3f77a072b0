"""Batches in flight: the producer's ledger and the document bytes parked for a batch.

See :mod:`worker.queue.recovery` for why the ledger exists and
:mod:`worker.pipeline.parked` for parked bytes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from worker.core.errors import StoreFull
from worker.core.keys import Keys
from worker.storage.connection import FULL, Redis, as_strs, guarded, memory

# The field of a parked hash that holds the batch's messages (input ids are never empty
# and the producer's are hex): the ledger copy, kept beside the bytes it names.
MESSAGES = "~messages"
# The field that names the queue the batch was published on: a sweep publishes again
# only the batches of the queue it serves (``ingest run`` has a queue of its own).
QUEUE = "~queue"


class Ledger:
    """Published batches not yet done (``ns:pending``) and their parked bytes and messages.

    A batch is one hash, ``ns:parked:{batch_id}``: input id -> document bytes, plus the
    batch's messages (JSON) under :data:`MESSAGES` when the broker needs a ledger. The
    producer writes it, scores it in ``ns:pending`` and counts the inputs as enqueued in
    one round trip before it publishes (and takes all three back if the publish fails).
    """

    def __init__(self, client: Redis, keys: Keys, ttl: int) -> None:
        self.client, self.keys, self.ttl = client, keys, ttl

    @guarded
    def park(
        self,
        batch_id: str,
        data: Mapping[str, bytes],
        messages: bytes | None,
        count: int,
        queue: str | None = None,
    ) -> None:
        """Keep a batch about to be published: its bytes, its messages, its enqueued count.

        No ``messages``: a broker that acknowledges deliveries itself, no ledger entry.
        """
        key = self.keys.parked(batch_id)
        fields: dict[str, bytes] = dict(data)
        if messages is not None:
            fields[MESSAGES] = messages
            if queue is not None:
                fields[QUEUE] = queue.encode()
        pipe = self.client.pipeline(transaction=False)
        if fields:
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
            pipe.expire(key, self.ttl)
        if messages is not None:
            pipe.zadd(self.keys.pending, {batch_id: time.time()})
        pipe.hincrby(self.keys.stats, "enqueued", count)
        pipe.execute()

    @guarded
    def unpark(self, batch_id: str, count: int) -> None:
        """Take back a batch the broker never took: nobody will read it."""
        pipe = self.client.pipeline(transaction=False)
        pipe.delete(self.keys.parked(batch_id))
        pipe.zrem(self.keys.pending, batch_id)
        pipe.hincrby(self.keys.stats, "enqueued", -count)
        pipe.execute()

    @guarded
    def forget(self, batch_id: str) -> None:
        """A batch is done: drop it from the ledger, with its parked bytes."""
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(self.keys.pending, batch_id)
        pipe.delete(self.keys.parked(batch_id))
        pipe.execute()

    @guarded
    def pending(
        self, older_than: float, queue: str | None = None
    ) -> list[tuple[str, bytes | None]]:
        """Entries published more than ``older_than`` seconds ago, with their messages.

        With ``queue``: only the entries published on it (and those whose parked hash
        expired, messages None, which any sweep may forget).
        """
        cutoff = time.time() - older_than
        ids = as_strs(self.client.zrangebyscore(self.keys.pending, "-inf", cutoff))
        if not ids:
            return []
        pipe = self.client.pipeline(transaction=False)
        for batch_id in ids:
            pipe.hmget(self.keys.parked(batch_id), [MESSAGES, QUEUE])
        found: list[list[bytes | None]] = pipe.execute()
        return [
            (batch_id, raw)
            for batch_id, (raw, on) in zip(ids, found, strict=True)
            if queue is None or raw is None or (on or queue.encode()) == queue.encode()
        ]

    @guarded
    def withdraw(self, count: int) -> None:
        """Uncount inputs that were enqueued and dropped unprocessed with their queue."""
        self.client.hincrby(self.keys.stats, "enqueued", -count)

    @guarded
    def touch(self, batch_id: str) -> None:
        """Restart an entry's clock (it was just published again)."""
        self.client.zadd(self.keys.pending, {batch_id: time.time()}, xx=True)

    @guarded
    def lock_sweep(self, seconds: int, queue: str) -> bool:
        """Take the sweep lock of ``queue`` for ``seconds``; False when another worker holds it."""
        key = self.keys.recovery_lock(queue)
        return bool(self.client.set(key, "1", nx=True, ex=max(1, seconds)))

    def room_for(self, nbytes: int) -> None:
        """Raise StoreFull unless Redis has ``nbytes`` to spare below its maxmemory.

        Checked before each batch, so a producer stops between batches, with every batch
        it published counted, rather than in the middle of one.
        """
        used, limit = memory(self.client)
        if limit and used + nbytes > limit:
            raise StoreFull(FULL)

    @guarded
    def parked(self, batch_id: str, input_ids: Sequence[str]) -> list[bytes | None]:
        """The parked bytes of these inputs of a batch (None where missing)."""
        found: list[bytes | None] = self.client.hmget(self.keys.parked(batch_id), input_ids)  # type: ignore[assignment]
        return found
