"""One beat schedules, however many run: the others stand by.

Two beats would each send every periodic task (feed polls twice as often: every due feed
is claimed atomically, so nothing is fetched twice, but the checks double). Compose's
``--scale beat=N``, a second host or a restart that overlaps the old container all start
more than one. So the scheduler schedules only while it holds the store's beat lease
(:class:`worker.storage.lease.Lease`, ``INGEST_BEAT_LEASE`` seconds, renewed at every
tick); a standby checks at a third of that and takes over once a leader stopped renewing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from typing import Any

from celery.beat import PersistentScheduler

from worker.core.errors import StoreUnavailable
from worker.queue.base import IngestApp
from worker.storage.lease import Lease

log = logging.getLogger(__name__)


class LeaderScheduler(PersistentScheduler):
    """Celery's persistent scheduler, ticking only while this beat holds the lease."""

    def __init__(self, app: IngestApp, *args: Any, **kwargs: Any) -> None:
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        store = app.store()
        self.lease = Lease(store.client, store.keys.beat_leader, owner)
        self.lease_seconds = app.settings.beat_lease
        self.leading: bool | None = None  # not known before the first tick
        super().__init__(app, *args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            leads = self.lease.hold(self.lease_seconds)
        except StoreUnavailable as e:
            # Without the store nobody can tell who leads: schedule nothing, ask again.
            log.warning("beat lease: %s; standing by", e)
            leads = False
        if leads != self.leading:
            if leads:
                log.info("this beat leads: it schedules the periodic tasks")
            else:
                log.info("another beat leads (%s); standing by", self.lease.holder())
            self.leading = leads
        if not leads:
            return self.lease_seconds / 3
        wait: float = super().tick(*args, **kwargs)
        return min(wait, self.lease_seconds / 3)

    def close(self) -> None:
        if self.leading:
            with contextlib.suppress(StoreUnavailable):
                self.lease.release()
        super().close()
