"""Polling subscribed feeds: what `celery beat`'s periodic task does at each tick.

Celery beat runs ``ingest.poll_feeds`` every ``INGEST_FEED_POLL_EVERY`` seconds. It reads
the subscriptions (:mod:`worker.pipeline.feedplan`), claims each enabled due feed
atomically in its state hash (:class:`worker.storage.feedstate.FeedState`,
``lua/claim_feed.lua``) and enqueues a feed-URL input for it. The worker that fetches the
feed records the result in the same hash, which sets the next poll (with capped backoff
after failures).
"""

from __future__ import annotations

from celery import Celery

from worker.core.models import InputKind
from worker.core.settings import Settings
from worker.pipeline.feedplan import settings_feeds
from worker.queue.inputs import InputRef
from worker.queue.producer import publish
from worker.storage.store import Store


def poll_due(app: Celery, store: Store, settings: Settings, now: float | None = None) -> list[str]:
    """Enqueue a feed-URL input for every subscription due now; returns their URLs."""
    subs = [s for s in settings_feeds(settings).feeds if s.enabled]
    claimed = store.feeds.claim_due(subs, now)
    refs = [InputRef(source=url, kind=InputKind.FEED_URL, url=url) for url in claimed]
    if refs:
        publish(app, store, refs, settings)
    return claimed
