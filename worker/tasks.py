"""Thin Celery tasks: decode the message, call the pipeline, choose the retry policy."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Task

from worker import pipeline
from worker.app import TASK_POLL_FEEDS, TASK_PROCESS_BATCH, app, redis_url
from worker.errors import ConfigError, TransientError
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
    outcomes = pipeline.process_batch(batch, get_store(), get_settings())
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
