"""The naive contrast: one Celery task per document, Celery's default settings.

Only the broker URL is set (``INGEST_REDIS_URL``, required); everything else is Celery's
default (prefork with one child per CPU, JSON, early acks, prefetch multiplier 4). The
task does the same work as the real pipeline by calling the project's own
``pipeline.process_batch`` on a one-document batch.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from worker.core.settings import load_settings
from worker.pipeline import process as pipeline
from worker.storage.store import Store

settings = load_settings()
if settings.redis_url is None:  # never fall back to Celery's default broker (localhost AMQP)
    raise SystemExit("naive_celery needs INGEST_REDIS_URL")
app = Celery("naive", broker=settings.redis_url)
_store: list[Store] = []


@app.task(name="naive.process_one")
def process_one(message: dict[str, Any]) -> None:
    """Process one document envelope."""
    if not _store:  # one client per pool process, made after the fork
        assert settings.redis_url is not None
        _store.append(Store.from_url(settings.redis_url, settings))
    pipeline.process_batch([message], _store[0], settings)
