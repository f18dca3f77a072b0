"""Worker step: a heartbeat in the store every few seconds, for the status page's count of
workers seen (``celery inspect`` would ask every worker and wait for their answers)."""

from __future__ import annotations

import logging
from typing import Any

from celery import bootsteps

from worker.core.errors import StoreUnavailable
from worker.queue.base import IngestApp
from worker.storage.heartbeat import beat

log = logging.getLogger(__name__)
EVERY = 15  # seconds between heartbeats; the status page counts a worker seen for 60 s


class Heartbeat(bootsteps.StartStopStep):
    """Write the worker's name and the time to the store, at start and every EVERY s."""

    requires = ("celery.worker.components:Timer",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None

    def start(self, parent: Any) -> None:
        app: IngestApp = parent.app
        name = str(parent.hostname)
        self.run(app, name)
        self.tref = parent.timer.call_repeatedly(EVERY, self.run, (app, name), priority=10)

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    def run(self, app: IngestApp, name: str) -> None:
        store = app.store()
        try:
            beat(store.client, store.keys, name)
        except StoreUnavailable as e:
            log.warning("heartbeat skipped: %s", e)
