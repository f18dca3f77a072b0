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
    """Keep a worker alive when kombu touches a channel whose Redis connection is gone.

    kombu 5.7 sets a channel's connection (or the connection's client) to None once its
    Redis connection is lost, but two calls may still reach that channel afterwards:
    restoring the channel's unacknowledged messages while closing it, and acknowledging
    (or rejecting) a message delivered on it whose task finished after the reconnect.
    Both fail with an AttributeError that Celery reports as an "Unrecoverable error", and
    the worker exits (seen in about one Redis kill in eight). Nothing is lost by skipping
    them: those messages are still in Redis's ``unacked`` hash and come back after the
    visibility timeout, where the idempotent store makes the second run a no-op. So that
    one case is logged and skipped; any other AttributeError is raised as before.
    """
    from kombu.transport import redis as transport
    from kombu.transport import virtual

    qos = transport.QoS
    if ORIGINAL:
        return  # already in place

    def restore_unacked(self: Any, client: Any = None) -> Any:
        try:
            return ORIGINAL["restore_unacked"](self, client)
        except AttributeError:
            if not _channel_gone(self):
                raise
            log.warning(
                "connection gone: %d unacked messages left to the visibility timeout",
                len(self._delivered),
            )
            self._delivered.clear()
            return None

    def ack(self: Any, delivery_tag: Any) -> Any:
        return _settle(self, "ack", delivery_tag)

    def reject(self: Any, delivery_tag: Any, requeue: bool = False) -> Any:
        return _settle(self, "reject", delivery_tag, requeue=requeue)

    ORIGINAL.update(
        restore_unacked=qos.restore_unacked,
        ack=qos.ack,
        reject=qos.reject,
        local_ack=virtual.QoS.ack,
    )
    for name, func in (("restore_unacked", restore_unacked), ("ack", ack), ("reject", reject)):
        setattr(qos, name, func)


ORIGINAL: dict[str, Any] = {}


def _channel_gone(qos: Any) -> bool:
    connection = getattr(qos.channel, "connection", None)
    return connection is None or getattr(connection, "client", None) is None


def _settle(qos: Any, name: str, delivery_tag: Any, **kwargs: Any) -> Any:
    """Ack or reject through kombu; on a channel whose connection is gone, only locally."""
    try:
        return ORIGINAL[name](qos, delivery_tag, **kwargs)
    except AttributeError:
        if not _channel_gone(qos):
            raise
        log.warning("connection gone: %s of %s left to the visibility timeout", name, delivery_tag)
        return ORIGINAL["local_ack"](qos, delivery_tag)


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
