"""Thin Celery tasks: decode the message, call the pipeline, choose the retry policy.

The tasks are registered on each app by :func:`register` (no app exists at import); a
bound task reaches its settings and Store through ``self.app``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from celery import Celery, Task
from celery.exceptions import Reject, SoftTimeLimitExceeded

from worker.core.errors import ConfigError, HostBusy, StoreUnavailable, TransientError
from worker.core.models import Outcome
from worker.core.protocol import TASK_POLL_FEEDS, TASK_PROCESS_BATCH, is_amqp
from worker.pipeline import parked, process
from worker.queue.base import IngestApp
from worker.queue.beat import poll_due

log = logging.getLogger(__name__)


def register(app: Celery) -> None:
    """Register this module's tasks on ``app``."""
    app.task(
        name=TASK_PROCESS_BATCH,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        autoretry_for=(TransientError,),
        retry_backoff=1,
        retry_backoff_max=60,
        retry_jitter=True,
        max_retries=None,
    )(process_batch)
    app.task(name=TASK_POLL_FEEDS, bind=True, ignore_result=True)(poll_feeds)


def process_batch(self: Task[Any, Any], messages: Any) -> int:
    """Process a batch of input envelopes; returns how many outcomes were stored."""
    app: IngestApp = self.app  # type: ignore[assignment]
    if not isinstance(messages, list):
        messages = [messages]
    batch = [m if isinstance(m, dict) else {"source": repr(m)[:200]} for m in messages]
    try:
        try:
            outcomes = run(app, batch, self.request.id)
        except StoreUnavailable as e:
            outcomes = wait_and_rerun(app, batch, self.request.id, e)
    except HostBusy as e:
        # A polite wait for a feed host: come back at the reserved start, process free.
        log.info("deferring batch %s by %.1f s: %s", self.request.id, e.retry_in, e)
        raise self.retry(countdown=e.retry_in, max_retries=None) from e
    log.info("batch of %d inputs: %d outcomes", len(batch), len(outcomes))
    return len(outcomes)


def poll_feeds(self: Task[Any, Any]) -> int:
    """Enqueue the subscribed feeds that are due (run by `celery -A worker beat`)."""
    app: IngestApp = self.app  # type: ignore[assignment]
    try:
        due = poll_due(app, app.store(), app.settings)
    except ConfigError as e:  # a bad feeds file: say so at every tick until it is fixed
        log.error("feed poll skipped: %s", e)
        return 0
    if due:
        log.info("polling %d feeds: %s", len(due), ", ".join(due))
    return len(due)


def run(app: IngestApp, batch: Sequence[Mapping[str, Any]], batch_id: str | None) -> list[Outcome]:
    """Process the batch with its parked bytes, then drop it from the producer's ledger.

    The ledger entry (queue.recovery) and the parked bytes (pipeline.parked) go only
    after the outcomes are stored: a redelivery must still find them. Through RabbitMQ
    there is neither (the bytes are in the message): the store sees only the upserts.
    """
    store = app.store()
    inputs = parked.attach(batch, store, batch_id)
    outcomes = process.process_batch(inputs, store, app.settings, timeouts=(SoftTimeLimitExceeded,))
    if batch_id and not is_amqp(str(app.conf.broker_url)):
        store.ledger.forget(batch_id)
    return outcomes


def wait_and_rerun(
    app: IngestApp, batch: Sequence[Mapping[str, Any]], batch_id: str | None, error: Exception
) -> list[Outcome]:
    """Redis is away: wait for it and run the batch again, keeping the message unacked.

    A Celery retry would publish a new message, through a broker that is usually this
    same Redis: when that publish fails, Celery drops the original (``Reject`` without
    requeue) and the batch is lost if Redis is back by the time of that reject. So the
    task waits here instead; if Redis stays away past half the visibility timeout, the
    message is requeued (or, when even that fails, redelivered after the timeout).
    Running the batch again is safe: every write is idempotent per input.
    """
    store = app.store()
    deadline = time.monotonic() + min(60.0, app.settings.visibility_timeout / 2)
    log.warning("redis unavailable, waiting to run the batch again: %s", error)
    while True:
        try:
            store.wait_ready(timeout=max(0.1, deadline - time.monotonic()))
            return run(app, batch, batch_id)
        except StoreUnavailable as e:
            if time.monotonic() >= deadline:
                raise Reject(e, requeue=True) from e
            time.sleep(0.5)
