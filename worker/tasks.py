"""Thin Celery tasks: decode the message, call the pipeline, choose the retry policy."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from celery import Task
from celery.exceptions import Reject

from worker import parked, pipeline
from worker.app import TASK_POLL_FEEDS, TASK_PROCESS_BATCH, app, redis_url
from worker.errors import ConfigError, StoreUnavailable, TransientError
from worker.models import Outcome
from worker.settings import get_settings
from worker.store import Store

log = logging.getLogger(__name__)
_store: tuple[int, Store] | None = None


def get_store() -> Store:
    """This process's Store (made anew after a fork: connections are not shared)."""
    global _store
    if _store is None or _store[0] != os.getpid():
        settings = get_settings()
        url = app.conf.get("ingest_store_url") or redis_url(settings)
        _store = (os.getpid(), Store.from_url(url, settings))
    return _store[1]


@app.task(
    name=TASK_PROCESS_BATCH,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(TransientError,),
    retry_backoff=1,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=None,
)
def process_batch(self: Task[Any, Any], messages: Any) -> int:
    """Process a batch of input envelopes; returns how many outcomes were stored."""
    if not isinstance(messages, list):
        messages = [messages]
    batch = [m if isinstance(m, dict) else {"source": repr(m)[:200]} for m in messages]
    try:
        outcomes = run(batch, self.request.id)
    except StoreUnavailable as e:
        outcomes = wait_and_rerun(batch, self.request.id, e)
    log.info("batch of %d inputs: %d outcomes", len(batch), len(outcomes))
    return len(outcomes)


@app.task(name=TASK_POLL_FEEDS, ignore_result=True)
def poll_feeds() -> int:
    """Enqueue the subscribed feeds that are due (run by `celery -A worker beat`)."""
    from worker.feedpoll import poll_due

    try:
        due = poll_due(get_store(), app)
    except ConfigError as e:  # a bad feeds file: say so at every tick until it is fixed
        log.error("feed poll skipped: %s", e)
        return 0
    if due:
        log.info("polling %d feeds: %s", len(due), ", ".join(due))
    return len(due)


def run(batch: Sequence[Mapping[str, Any]], batch_id: str | None) -> list[Outcome]:
    """Process the batch with its parked bytes, then drop it from the producer's ledger.

    The ledger entry (worker.recovery) and the parked bytes (worker.parked) go only after
    the outcomes are stored: a redelivery must still find them.
    """
    store = get_store()
    outcomes = pipeline.process_batch(parked.attach(batch, store, batch_id), store, get_settings())
    if batch_id:
        store.forget_batch(batch_id)
    return outcomes


def wait_and_rerun(
    batch: Sequence[Mapping[str, Any]], batch_id: str | None, error: StoreUnavailable
) -> list[Outcome]:
    """Redis is away: wait for it and run the batch again, keeping the message unacked.

    A Celery retry would publish a new message, through a broker that is usually this
    same Redis: when that publish fails, Celery drops the original (``Reject`` without
    requeue) and the batch is lost if Redis is back by the time of that reject. So the
    task waits here instead; if Redis stays away past half the visibility timeout, the
    message is requeued (or, when even that fails, redelivered after the timeout).
    Running the batch again is safe: every write is idempotent per input.
    """
    store, settings = get_store(), get_settings()
    deadline = time.monotonic() + min(60.0, settings.visibility_timeout / 2)
    log.warning("redis unavailable, waiting to run the batch again: %s", error)
    while True:
        try:
            store.wait_ready(timeout=max(0.1, deadline - time.monotonic()))
            return run(batch, batch_id)
        except StoreUnavailable as e:
            if time.monotonic() >= deadline:
                raise Reject(e, requeue=True) from e
            time.sleep(0.5)
