"""The broker's queue depth without Celery when the broker is Redis (a command stays quick)."""

from __future__ import annotations

import logging

from worker.core.errors import StoreUnavailable
from worker.core.settings import Settings
from worker.storage.brokerqueues import BrokerQueues

log = logging.getLogger(__name__)


def broker_depth(settings: Settings, url: str) -> int | None:
    """Tasks waiting in the broker queue; None when the broker cannot be reached.

    A Redis broker is read directly (LLEN, as kombu counts); any other broker through
    Celery (:func:`worker.queue.brokerprobe.queue_depth`), imported only then.
    """
    broker = BrokerQueues.for_url(settings.broker_for(url))
    if broker is None:
        from worker.queue.app import make_app
        from worker.queue.brokerprobe import queue_depth

        return queue_depth(make_app(settings, url), settings.queue)
    try:
        return broker.depth(settings.queue)
    except StoreUnavailable as e:
        log.warning("broker unreachable for queue depth: %s", e)
        return None
