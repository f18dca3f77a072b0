"""What the recovery sweep asks of a Redis broker: is any work still queued or unacked?"""

from __future__ import annotations

from worker.core.protocol import is_redis_url
from worker.storage.connection import connect, guarded

UNACKED = "unacked"  # kombu's Redis transport: hash of delivered, unacknowledged messages


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
