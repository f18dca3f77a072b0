"""Recovery of batches the broker lost: the producer's ledger and the workers' sweep.

kombu's Redis transport takes a message off the queue (``BRPOP``) and only then, in a
second command, records it as unacknowledged. A worker killed, or a Redis killed,
between the two loses the message for good: it is in neither the queue nor ``unacked``,
so neither late acks nor the visibility timeout bring it back. (Measured: one Redis
SIGKILL in four, mid-run, lost a batch this way.) Celery's own retry has a similar
hole: a retry that cannot be published drops the original message.

So the producer keeps each batch in a ledger (:class:`worker.storage.ledger.Ledger`:
written with the batch's parked bytes just before the publish, taken back if the publish
fails) until a worker is done with it, and each worker
sweeps: when the queue is empty and no message is unacknowledged, a batch still in the
ledger one visibility timeout after it was published can only have been lost, and is
published again under the same id. Publishing a batch twice is harmless: every write is
idempotent per input. Lost batches therefore come back once the queue has drained,
never later than that plus one sweep. The sweep applies to Redis brokers; RabbitMQ
acknowledges deliveries itself.

The worker also installs the kombu patch of :mod:`worker.queue.kombu_patch`
(:class:`KombuGuard`).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from celery import bootsteps
from kombu.exceptions import OperationalError

from worker.core.errors import StoreUnavailable
from worker.core.protocol import TASK_PROCESS_BATCH
from worker.queue import kombu_patch
from worker.queue.base import IngestApp
from worker.storage.brokerqueues import BrokerQueues
from worker.storage.store import Store

log = logging.getLogger(__name__)


def restore_interval(visibility_timeout: int) -> int:
    """Seconds between sweeps for expired unacked tasks: a quarter timeout, 1 to 10 s."""
    return max(1, min(10, visibility_timeout // 4))


def sweep(app: Any, store: Store, broker: BrokerQueues, queue: str, min_age: float) -> int:
    """Publish again the ledger's batches of ``queue`` that the broker lost; returns how many."""
    if not store.ledger.lock_sweep(int(min_age / 2), queue):
        return 0  # another worker is sweeping
    candidates = store.ledger.pending(older_than=min_age, queue=queue)
    if not candidates or broker.busy(queue):
        return 0  # nothing old, or work still around that may be these batches
    # Read again: a batch done since the first read is no longer pending.
    still = dict(store.ledger.pending(older_than=min_age, queue=queue))
    published = 0
    for batch_id, raw in candidates:
        if batch_id not in still:
            continue
        if raw is None:  # its messages expired: nothing left to publish
            store.ledger.forget(batch_id)
            continue
        app.send_task(TASK_PROCESS_BATCH, args=[orjson.loads(raw)], task_id=batch_id, queue=queue)
        store.ledger.touch(batch_id)
        published += 1
    if published:
        log.warning("published again %d batches the broker lost", published)
    return published


class KombuGuard(bootsteps.Step):
    """Worker step: install the kombu patch, in the worker process only (see kombu_patch)."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        kombu_patch.install()


class Recovery(bootsteps.StartStopStep):
    """Worker step: sweep for lost batches every few seconds (Redis brokers only)."""

    requires = ("celery.worker.components:Timer",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None
        self.broker: BrokerQueues | None = None

    def start(self, parent: Any) -> None:
        app: IngestApp = parent.app
        self.broker = BrokerQueues.for_url(str(app.conf.broker_url))
        if self.broker is None:
            return
        every = restore_interval(app.settings.visibility_timeout)
        self.tref = parent.timer.call_repeatedly(every, self.run, (app,), priority=10)

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    def run(self, app: IngestApp) -> None:
        settings = app.settings
        assert self.broker is not None
        try:
            sweep(app, app.store(), self.broker, settings.queue, settings.visibility_timeout)
        except (StoreUnavailable, OperationalError, OSError) as e:
            log.warning("sweep for lost batches skipped: %s", e)
        except Exception:
            log.exception("sweep for lost batches failed")
