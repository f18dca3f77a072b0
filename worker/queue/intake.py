"""The worker's Celery consumer: every message is checked before Celery unpacks it.

Set as ``worker_consumer`` (Celery's documented setting for the consumer class). A
message that :func:`worker.queue.malformed.message_problem` finds wrong, or that Celery
still fails to read, is stored as an ``input.malformed_message`` rejection and
acknowledged, instead of stopping the worker. The same happens to a Redis list entry that
kombu cannot read (:class:`worker.queue.transport.QuarantineTransport`, whose handler
this consumer sets on each connection).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery.worker.consumer import Consumer

from worker.core.errors import StoreUnavailable
from worker.queue.base import IngestApp
from worker.queue.malformed import message_bytes, message_problem, refused
from worker.queue.transport import QuarantineTransport

log = logging.getLogger(__name__)
# What Celery raises from inside its own handler when a message's shape surprises it.
READ_FAULTS = (ValueError, TypeError, KeyError, AttributeError, IndexError)


class IngestConsumer(Consumer):
    """Celery's consumer, turning messages it cannot run into rejections."""

    def create_task_handler(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        handle = super().create_task_handler(*args, **kwargs)

        def on_task_received(message: Any) -> Any:
            problem = message_problem(message)
            if problem is None:
                try:
                    return handle(message)
                except READ_FAULTS as e:
                    if message.acknowledged:
                        raise
                    log.exception("celery could not read a message")
                    problem = f"celery could not read it: {type(e).__name__}"
            self.quarantine(message, problem)
            return None

        return on_task_received

    def connect(self) -> Any:
        conn = super().connect()
        if isinstance(conn.transport, QuarantineTransport):
            conn.transport.on_malformed = self.keep_entry
        return conn

    @property
    def read_errors(self) -> tuple[type[BaseException], ...]:
        """The broker connection's errors (Celery sets them on the consumer)."""
        errors: tuple[type[BaseException], ...] = getattr(self, "connection_errors", ())
        return errors

    def quarantine(self, message: Any, problem: str) -> None:
        """Store a malformed message as a rejection, then take it off the queue."""
        try:
            self.keep(message_bytes(message), problem)
        except StoreUnavailable as e:
            log.warning("malformed message left queued, the store is away: %s", e)
            message.reject_log_error(log, self.read_errors, requeue=True)
            return
        message.ack_log_error(log, self.read_errors)

    def keep_entry(self, raw: bytes, problem: str) -> None:
        """Store a Redis list entry kombu cannot read (already popped: no way back)."""
        try:
            self.keep(raw, problem)
        except StoreUnavailable as e:
            log.error("malformed queue entry dropped, the store is away (%s): %r", e, raw[:200])

    def keep(self, raw: bytes, problem: str) -> None:
        """Store the rejection of a malformed message (raises StoreUnavailable)."""
        app: IngestApp = self.app  # type: ignore[assignment]
        item = refused(raw, problem)
        app.store().reject_unqueued(item)
        log.warning("malformed queue message kept as rejection %s: %s", item.item_id, problem)
