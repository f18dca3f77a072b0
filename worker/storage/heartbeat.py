"""Worker heartbeats: each worker writes its name and the time, every few seconds.

One sorted set, ``Keys.workers`` (name -> epoch seconds, Redis's clock), read by the status
page as "workers seen". A name silent for a day is dropped at the next heartbeat of any
worker, so the set stays as small as the fleet.
"""

from __future__ import annotations

from worker.core.keys import Keys
from worker.storage.connection import Redis, guarded

FORGET_AFTER = 24 * 3600  # seconds


@guarded
def beat(client: Redis, keys: Keys, name: str) -> None:
    """Say ``name`` is alive now, and forget the workers silent for a day."""
    seconds, _ = client.time()
    pipe = client.pipeline(transaction=False)
    pipe.zadd(keys.workers, {name: float(seconds)})
    pipe.zremrangebyscore(keys.workers, "-inf", float(seconds) - FORGET_AFTER)
    pipe.execute()
