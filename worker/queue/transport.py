"""kombu's Redis transport, with list entries it cannot read handed to the worker whole.

kombu pops a list entry (``BRPOP``), parses it as JSON and builds a message from it
before anything of Celery's runs: an entry that is not JSON, not a kombu envelope, or has
a body that is not base64 raises there and the worker exits (the entry is lost with it).
:class:`QuarantineTransport` checks each parsed entry (``worker.queue.malformed``) before
kombu builds the message, and hands a bad one to ``on_malformed`` (set by the worker's
consumer, :mod:`worker.queue.intake`): it becomes a rejection and the queue moves on.
Entries that are not JSON reach it as :class:`Unreadable`, through the guarded wrap of
kombu's JSON parsing in :mod:`worker.queue.kombu_patch` (worker processes only).

Without a handler (a producer, or a worker without our consumer) it fails as kombu does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from kombu.transport import redis

from worker.queue.malformed import envelope_problem

MalformedHandler = Callable[[bytes, str], None]


class Unreadable:
    """A list entry kombu could not parse as JSON, as text (kombu decoded it as UTF-8)."""

    __slots__ = ("error", "text")

    def __init__(self, text: str, error: Exception) -> None:
        self.text = text
        self.error = error


class QuarantineTransport(redis.Transport):
    """The Redis transport; malformed entries go to ``on_malformed`` instead of raising."""

    on_malformed: MalformedHandler | None = None

    def _deliver(self, message: Any, queue: str | None) -> Any:
        if isinstance(message, Unreadable):
            raw, problem = message.text.encode("utf-8", "replace"), "the entry is not JSON"
            failure: Exception = message.error
        else:
            found = envelope_problem(message)
            if found is None:
                return super()._deliver(message, queue)
            raw, problem, failure = _dumped(message), found, ValueError(found)
        if self.on_malformed is None:
            raise failure
        self.on_malformed(raw, problem)
        return None


def _dumped(payload: object) -> bytes:
    try:
        return orjson.dumps(payload, default=repr, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # e.g. an integer beyond 64 bits
        return repr(payload).encode()
