"""A lease in the store: one holder at a time, renewed while it lives, lost when it dies.

``SET key owner NX PX ttl`` takes a free lease; the holder renews it with a compare-and-set
(``WATCH``, so a lease that expired and went to another holder is never stolen back).
A holder that dies stops renewing, and the lease is free again ``ttl`` later.
"""

from __future__ import annotations

import redis

from worker.storage.connection import Redis, guarded


class Lease:
    """The lease at ``key``, as seen by ``owner``."""

    def __init__(self, client: Redis, key: str, owner: str) -> None:
        self.client, self.key, self.owner = client, key, owner

    @guarded
    def hold(self, ttl: float) -> bool:
        """Take the lease if free, renew it if ours; True while we hold it."""
        ms = max(1, int(ttl * 1000))
        if self.client.set(self.key, self.owner, nx=True, px=ms):
            return True
        with self.client.pipeline() as pipe:
            try:
                pipe.watch(self.key)  # type: ignore[no-untyped-call]
                if pipe.get(self.key) != self.owner.encode():
                    return False
                pipe.multi()
                pipe.pexpire(self.key, ms)
                pipe.execute()
                return True
            except redis.WatchError:
                return False  # it changed hands while we looked: not ours

    @guarded
    def release(self) -> None:
        """Give the lease up now, if ours (a clean stop hands over without waiting)."""
        with self.client.pipeline() as pipe:
            try:
                pipe.watch(self.key)  # type: ignore[no-untyped-call]
                if pipe.get(self.key) == self.owner.encode():
                    pipe.multi()
                    pipe.delete(self.key)
                    pipe.execute()
            except redis.WatchError:
                pass

    def holder(self) -> str | None:
        """Who holds it now, if anyone."""
        value = self.client.get(self.key)
        return value.decode() if isinstance(value, bytes) else None
