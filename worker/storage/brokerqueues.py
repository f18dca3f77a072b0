"""What the recovery sweep asks of a Redis broker (is any work still queued or unacked?),
and the removal of a queue of its own that ``ingest run`` leaves behind."""

from __future__ import annotations

from worker.core.protocol import is_redis_url
from worker.storage.connection import as_str, connect, guarded

UNACKED = "unacked"  # kombu's Redis transport: hash of delivered, unacknowledged messages
# kombu's Redis transport keeps a list per priority step: the queue's name for priority 0,
# the name, a separator and the step for the others.
PRIORITY_SEPARATOR, PRIORITY_STEPS = "\x06\x16", (3, 6, 9)
# kombu's Redis transport: sets per exchange, of "routing key SEP pattern SEP queue" (the
# bindings, and since kombu 5.7 their copy that its sweep of expiring bindings keeps).
BINDINGS = ("_kombu.binding.", "_kombu.binding_permanent.")


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

    @staticmethod
    def lists(queue: str) -> list[str]:
        """The Redis lists of ``queue``: one per priority step."""
        return [queue, *(f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS)]

    @guarded
    def expire(self, queue: str, seconds: int) -> None:
        """Let ``queue`` (its lists, and the bindings of its own exchange) expire."""
        pipe = self._redis.pipeline(transaction=False)
        for key in [*self.lists(queue), *(prefix + queue for prefix in BINDINGS)]:
            pipe.expire(key, seconds)
        pipe.execute()

    @guarded
    def drop(self, queue: str) -> None:
        """Delete ``queue``: its lists and every binding that names it."""
        self._redis.delete(*self.lists(queue), *(prefix + queue for prefix in BINDINGS))
        suffix = f"{PRIORITY_SEPARATOR}{queue}"
        for prefix in BINDINGS:
            for key in self._redis.scan_iter(match=prefix + "*", count=100):
                members = [m for m in self._redis.smembers(key) if as_str(m).endswith(suffix)]
                if members:
                    self._redis.srem(key, *members)

    @guarded
    def depth(self, queue: str) -> int:
        """Messages waiting in ``queue`` (every priority), as kombu counts them."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.llen(queue)
        for step in PRIORITY_STEPS:
            pipe.llen(f"{queue}{PRIORITY_SEPARATOR}{step}")
        return sum(int(n) for n in pipe.execute())
