"""Recovery of batches the broker lost: the producer's ledger and the workers' sweep.

kombu's Redis transport takes a message off the queue (``BRPOP``) and only then, in a
second command, records it as unacknowledged. A worker killed, or a Redis killed,
between the two loses the message for good: it is in neither the queue nor ``unacked``,
so neither late acks nor the visibility timeout bring it back. (Measured: one Redis
SIGKILL in four, mid-run, lost a batch this way.) Celery's own retry has a similar
hole: a retry that cannot be published drops the original message.

So the producer, once the broker took a batch, keeps it in a ledger (``ns:pending`` and
``ns:batch:{id}``) until a worker is done with it, and each worker sweeps: when the
queue is empty and no message is unacknowledged, a batch still in the ledger one
visibility timeout after it was published can only have been lost, and is published
again under the same id.
Publishing a batch twice is harmless: every write is idempotent per input (so is the
rare entry written after a fast worker already finished its batch). Lost batches
therefore come back once the queue has drained, never later than that plus one sweep.
The sweep applies to Redis brokers; RabbitMQ acknowledges deliveries itself.

:func:`tolerate_closed_connection_on_restore` works around a second kombu fault met when
Redis is killed: see its docstring.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import redis
from celery import bootsteps
from kombu.exceptions import OperationalError

from worker.errors import StoreUnavailable
from worker.store import Store

log = logging.getLogger(__name__)
UNACKED = "unacked"  # kombu's Redis transport: hash of delivered, unacknowledged messages


def sweep(app: Any, store: Store, broker: redis.Redis, queue: str, min_age: float) -> int:
    """Publish again the ledger's batches that the broker lost; returns how many."""
    lock = store.keys.recovery_lock
    if not store.client.set(lock, "1", nx=True, ex=max(1, int(min_age / 2))):
        return 0  # another worker is sweeping
    candidates = store.pending_batches(older_than=min_age)
    if not candidates or broker.llen(queue) or broker.hlen(UNACKED):
        return 0  # nothing old, or work still around that may be these batches
    # Read again: a batch done since the first read is no longer pending.
    still = dict(store.pending_batches(older_than=min_age))
    published = 0
    for batch_id, raw in candidates:
        if batch_id not in still:
            continue
        if raw is None:  # its messages expired: nothing left to publish
            store.forget_batch(batch_id)
            continue
        from worker.app import TASK_PROCESS_BATCH

        app.send_task(TASK_PROCESS_BATCH, args=[orjson.loads(raw)], task_id=batch_id, queue=queue)
        store.touch_batch(batch_id)
        published += 1
    if published:
        log.warning("published again %d batches the broker lost", published)
    return published


def tolerate_closed_connection_on_restore() -> None:
    """Keep a worker alive when kombu cannot restore unacked messages of a dead connection.

    kombu 5.7, closing a channel after its Redis connection was lost, restores the
    channel's unacknowledged messages through the connection's client, which it has
    already set to None: an AttributeError that Celery reports as an "Unrecoverable
    error" and the worker exits (seen in about one Redis kill in eight). Nothing needs
    restoring there: those messages are still in Redis's ``unacked`` hash and come back
    after the visibility timeout. So that one case is logged and skipped.
    """
    from kombu.transport import redis as transport

    original = transport.QoS.restore_unacked
    if getattr(original, "tolerant", False):
        return

    def restore_unacked(self: Any, client: Any = None) -> Any:
        try:
            return original(self, client)
        except AttributeError:
            if self.channel.connection.client is not None:
                raise
            log.warning(
                "connection gone: %d unacked messages left to the visibility timeout",
                len(self._delivered),
            )
            self._delivered.clear()
            return None

    restore_unacked.tolerant = True  # type: ignore[attr-defined]
    setattr(transport.QoS, "restore_unacked", restore_unacked)  # noqa: B010


def broker_client(url: str) -> redis.Redis | None:
    """A client for a Redis broker URL; None for other brokers (they ack on their own)."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    from worker.store import connect

    return connect(url)


class Recovery(bootsteps.StartStopStep):
    """Worker step: sweep for lost batches every few seconds (Redis brokers only)."""

    requires = ("celery.worker.components:Timer",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None
        self.broker: redis.Redis | None = None

    def start(self, parent: Any) -> None:
        from worker.app import restore_interval
        from worker.settings import get_settings

        self.broker = broker_client(str(parent.app.conf.broker_url))
        if self.broker is None:
            return
        every = restore_interval(get_settings().visibility_timeout)
        self.tref = parent.timer.call_repeatedly(every, self.run, (parent.app,), priority=10)

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    def run(self, app: Any) -> None:
        from worker.settings import get_settings
        from worker.tasks import get_store

        settings = get_settings()
        assert self.broker is not None
        try:
            sweep(app, get_store(), self.broker, settings.queue, settings.visibility_timeout)
        except (StoreUnavailable, OperationalError, redis.RedisError, OSError) as e:
            log.warning("sweep for lost batches skipped: %s", e)
        except Exception:
            log.exception("sweep for lost batches failed")
