"""What the recovery sweep asks of a Redis broker: is any work still queued or unacked?"""

from __future__ import annotations

from worker.core.protocol import is_redis_url
from worker.storage.connection import connect, guarded

UNACKED = "unacked"  # kombu's Redis transport: hash of delivered, unacknowledged messages
# kombu's Redis transport keeps a list per priority step: the queue's name for priority 0,
# the name, a separator and the step for the others.
PRIORITY_SEPARATOR, PRIORITY_STEPS = "\x06\x16", (3, 6, 9)


class BrokerQueues:
    """Read-only look at a Redis broker's queue list and kombu's ``unacked`` hash."""

    def __init__(self, url: str) -> None:
        self._redis = connect(url)

    @classmethod
    def for_url(cls, url: str) -> BrokerQueues | None:
        """The broker at ``url`` when it is Redis; None for brokers that ack on their own."""
        return cls(url) if is_redis_url(url) else None

    @guarded
    def busy(self, queue: str) -> bool:
        """True while messages wait in ``queue`` or are delivered and unacknowledged."""
        return bool(self._redis.llen(queue) or self._redis.hlen(UNACKED))

    @guarded
    def depth(self, queue: str) -> int:
        """Messages waiting in ``queue`` (every priority), as kombu counts them."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.llen(queue)
        for step in PRIORITY_STEPS:
            pipe.llen(f"{queue}{PRIORITY_SEPARATOR}{step}")
        return sum(int(n) for n in pipe.execute())
