"""Back-pressure for the producer: publish no faster than the workers take tasks.

Without it, ``ingest enqueue`` of a large folder parks every document's bytes in Redis
long before the workers get to them (200,000 documents of 3 KB: 600 MB within 36 s), and
Redis and the workers slow down under the memory it holds. The producer asks the broker
how many tasks wait in the queue before each batch, and waits while more than
``max_queued_batches`` do.

Workers may be absent (a folder queued before they start): when the queue has not gone
down for ``enqueue_stall_seconds``, the producer says so once and enqueues the rest
without waiting, as it did before the bound. Only a Redis broker is read this way; with
RabbitMQ the producer is not paced (docs/scaling.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from worker.core.errors import StoreUnavailable
from worker.core.settings import Settings
from worker.storage.brokerqueues import BrokerQueues

log = logging.getLogger(__name__)

FIRST_POLL, LAST_POLL = 0.005, 0.1  # seconds between looks at the queue while it is full


@dataclass
class Pacer:
    """Holds the producer back while more than ``limit`` tasks wait in the queue.

    ``depth`` reads the queue (None: unknown, do not wait). ``waited`` counts the seconds
    spent waiting, ``stalled`` turns true once the queue stood still for ``stall`` seconds.
    """

    depth: Callable[[], int | None]
    limit: int
    stall: float
    queue: str = "ingest"
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    waited: float = 0.0
    stalled: bool = False

    def wait(self) -> None:
        """Return once at most ``limit`` tasks wait, or the queue stood still too long."""
        if self.stalled or self.limit <= 0:
            return
        depth = self.depth()
        if depth is None or depth <= self.limit:
            return
        start = moved = self.clock()
        lowest, delay = depth, FIRST_POLL
        while depth is not None and depth > self.limit:
            if self.clock() - moved > self.stall:
                self._give_up(depth)
                break
            self.sleep(delay)
            delay = min(delay * 2, LAST_POLL)
            depth = self.depth()
            if depth is not None and depth < lowest:
                lowest, moved = depth, self.clock()
        self.waited += self.clock() - start

    def _give_up(self, depth: int) -> None:
        self.stalled = True
        log.warning(
            "no worker took a task from queue %r for %.0f s (%d tasks wait): enqueuing the "
            "rest without waiting; start `ingest worker` to process them",
            self.queue,
            self.stall,
            depth,
        )


def pacer_for(settings: Settings, store_url: str) -> Pacer | None:
    """A pacer on the settings' broker when it is Redis; None for other brokers."""
    broker = BrokerQueues.for_url(settings.broker_for(store_url))
    if broker is None or settings.max_queued_batches <= 0:
        return None

    def depth() -> int | None:
        try:
            return broker.depth(settings.queue)
        except StoreUnavailable:
            return None  # the publish that follows retries and reports it

    return Pacer(depth, settings.max_queued_batches, settings.enqueue_stall_seconds, settings.queue)
