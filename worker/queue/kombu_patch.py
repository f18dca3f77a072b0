"""A guarded patch of kombu's Redis transport, applied only inside a worker process.

Two changes: how the QoS settles a message on a channel whose connection is gone, and
how the transport parses a list entry that is not JSON.

QoS. kombu 5.7 sets a channel's connection (or the connection's client) to None once its
Redis connection is lost, but two calls may still reach that channel afterwards:
restoring the channel's unacknowledged messages while closing it, and acknowledging (or
rejecting) a message delivered on it whose task finished after the reconnect. Both fail
with an AttributeError that Celery reports as an "Unrecoverable error", and the worker
exits (seen in about one Redis kill in eight). Nothing is lost by skipping them: those
messages are still in Redis's ``unacked`` hash and come back after the visibility
timeout, where the idempotent store makes the second run a no-op.

Parsing. The transport parses each list entry with the ``loads`` of its module, inside
the ``BRPOP`` reader: an entry that is not JSON raises there and the worker exits. The
patch makes that ``loads`` return an :class:`~worker.queue.transport.Unreadable` for such
an entry, which :class:`~worker.queue.transport.QuarantineTransport` stores as a
rejection (see :mod:`worker.queue.malformed`). Entries that parse are unchanged.

The patch reads kombu internals (``QoS._delivered``, ``channel.connection.client``, the
transport module's ``loads``), so:

- it is installed only by the worker's :class:`~worker.queue.recovery.KombuGuard` step,
  never on import and never in a producer;
- :func:`install` refuses a kombu outside ``TESTED_KOMBU`` (raise, naming the version):
  pin kombu (the lock file does) or test the patch on the new version first;
- it fails closed: a channel is taken as gone only when its ``connection`` attribute
  exists and is None (or the connection's ``client`` exists and is None). If kombu
  renames them, the AttributeError is raised as before rather than swallowed; an entry
  that is not JSON still raises unless the transport in use is ours and has a handler.
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from typing import Any

from worker.core.errors import ConfigError
from worker.queue.transport import Unreadable

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
    if not callable(getattr(transport, "loads", None)):  # kombu.transport.redis's own import
        raise ConfigError("kombu's Redis transport has no loads(): the patch cannot apply")
    ORIGINAL.update(
        loads=getattr(transport, "loads"),  # noqa: B009 (not in kombu's stubs)
        restore_unacked=qos.restore_unacked,
        ack=qos.ack,
        reject=qos.reject,
        local_ack=virtual.QoS.ack,
    )
    for name, func in (("restore_unacked", restore_unacked), ("ack", ack), ("reject", reject)):
        setattr(qos, name, func)
    setattr(transport, "loads", tolerant_loads)  # noqa: B010


def tolerant_loads(s: Any, *args: Any, **kwargs: Any) -> Any:
    """kombu's JSON parsing, returning an Unreadable where kombu would raise."""
    try:
        return ORIGINAL["loads"](s, *args, **kwargs)
    except (ValueError, TypeError, KeyError) as e:  # kombu's type hooks raise the last two
        text = s if isinstance(s, str) else bytes(s).decode("utf-8", "replace")
        return Unreadable(text, e)


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
