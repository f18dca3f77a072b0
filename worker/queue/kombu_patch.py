"""A guarded patch of kombu's Redis QoS, applied only inside a worker process.

kombu 5.7 sets a channel's connection (or the connection's client) to None once its
Redis connection is lost, but two calls may still reach that channel afterwards:
restoring the channel's unacknowledged messages while closing it, and acknowledging (or
rejecting) a message delivered on it whose task finished after the reconnect. Both fail
with an AttributeError that Celery reports as an "Unrecoverable error", and the worker
exits (seen in about one Redis kill in eight). Nothing is lost by skipping them: those
messages are still in Redis's ``unacked`` hash and come back after the visibility
timeout, where the idempotent store makes the second run a no-op.

The patch reads kombu internals (``QoS._delivered``, ``channel.connection.client``), so:

- it is installed only by the worker's :class:`~worker.queue.recovery.KombuGuard` step,
  never on import and never in a producer;
- :func:`install` refuses a kombu outside ``TESTED_KOMBU`` (raise, naming the version):
  pin kombu (the lock file does) or test the patch on the new version first;
- it fails closed: a channel is taken as gone only when its ``connection`` attribute
  exists and is None (or the connection's ``client`` exists and is None). If kombu
  renames them, the AttributeError is raised as before rather than swallowed.
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from typing import Any

from worker.core.errors import ConfigError

log = logging.getLogger(__name__)
TESTED_KOMBU = ("5.7",)
ORIGINAL: dict[str, Any] = {}
_MISSING = object()


def kombu_version() -> str:
    """kombu's major.minor version."""
    return ".".join(version("kombu").split(".")[:2])


def install() -> None:
    """Patch kombu's Redis QoS (once); ConfigError on a kombu the patch was not tested on."""
    if ORIGINAL:
        return
    if kombu_version() not in TESTED_KOMBU:
        raise ConfigError(
            f"kombu {version('kombu')} is untested with this worker's QoS patch "
            f"(tested: {', '.join(TESTED_KOMBU)}.x): install the locked versions "
            "(requirements/lock.txt)"
        )
    from kombu.transport import redis as transport
    from kombu.transport import virtual

    qos = transport.QoS
    for name in ("restore_unacked", "ack", "reject"):
        if not callable(getattr(qos, name, None)):
            raise ConfigError(f"kombu's Redis QoS has no {name}(): the patch cannot apply")
    ORIGINAL.update(
        restore_unacked=qos.restore_unacked,
        ack=qos.ack,
        reject=qos.reject,
        local_ack=virtual.QoS.ack,
    )
    for name, func in (("restore_unacked", restore_unacked), ("ack", ack), ("reject", reject)):
        setattr(qos, name, func)


def restore_unacked(self: Any, client: Any = None) -> Any:
    try:
        return ORIGINAL["restore_unacked"](self, client)
    except AttributeError:
        if not channel_gone(self):
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


def channel_gone(qos: Any) -> bool:
    """True only when kombu dropped the channel's connection (or its client) to None."""
    connection = getattr(qos.channel, "connection", _MISSING)
    if connection is None:
        return True
    if connection is _MISSING:
        return False  # an attribute kombu no longer has: fail closed
    return getattr(connection, "client", _MISSING) is None


def _settle(qos: Any, name: str, delivery_tag: Any, **kwargs: Any) -> Any:
    """Ack or reject through kombu; on a channel whose connection is gone, only locally."""
    try:
        return ORIGINAL[name](qos, delivery_tag, **kwargs)
    except AttributeError:
        if not channel_gone(qos):
            raise
        log.warning("connection gone: %s of %s left to the visibility timeout", name, delivery_tag)
        return ORIGINAL["local_ack"](qos, delivery_tag)
