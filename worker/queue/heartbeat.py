"""Worker step: a heartbeat in the store every few seconds, for the status page's count of
workers seen (``celery inspect`` would ask every worker and wait for their answers)."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery import bootsteps

from worker.core.errors import StoreUnavailable
from worker.queue.base import IngestApp
from worker.storage.heartbeat import beat

log = logging.getLogger(__name__)
EVERY = 15  # seconds between heartbeats; the status page counts a worker seen for 60 s

# Held while the heartbeat talks to the store, and taken by os.fork() (the pool's
# children): a child forked while this thread was inside OpenSSL (a TLS handshake)
# inherited its lock held, and its first TLS connection waited forever. A fork waits for
# the lock FORK_WAIT seconds at most: a store that is paused or unreachable holds a
# heartbeat far longer, in a socket read or connect, which holds none of OpenSSL's locks
# (a worker started during a CLIENT PAUSE could not fork its pool until the pause ended).
FORK_WAIT = 2.0
_FORKING = threading.Lock()
_GUARDED: list[bool] = []
_HELD_BY_FORK: list[bool] = [False]


def guard_forks() -> None:
    """Make os.fork() wait for a heartbeat's store I/O to end (once per process)."""
    if not _GUARDED:
        _GUARDED.append(True)
        os.register_at_fork(
            before=_before_fork, after_in_parent=_after_in_parent, after_in_child=_after_in_child
        )


def _before_fork() -> None:
    _HELD_BY_FORK[0] = _FORKING.acquire(timeout=FORK_WAIT)


def _after_in_parent() -> None:
    if _HELD_BY_FORK[0]:
        _HELD_BY_FORK[0] = False
        _FORKING.release()


def _after_in_child() -> None:
    """A fresh lock: the child has no heartbeat thread, whoever held the parent's."""
    global _FORKING
    _HELD_BY_FORK[0] = False
    _FORKING = threading.Lock()


class Heartbeat(bootsteps.StartStopStep):
    """Write the worker's name and the time to the store, at start and every EVERY s.

    From a thread of its own: a store that is slow, paused or down delays neither the
    worker's start nor Celery's timer (which keeps the broker connection alive).
    """

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.stopped = threading.Event()
        guard_forks()

    def start(self, parent: Any) -> None:
        app: IngestApp = parent.app
        name = str(parent.hostname)
        self.stopped.clear()
        thread = threading.Thread(target=self.loop, args=(app, name), daemon=True)
        thread.name = "ingest-heartbeat"
        thread.start()

    def stop(self, parent: Any) -> None:
        self.stopped.set()

    def loop(self, app: IngestApp, name: str) -> None:
        while not self.stopped.is_set():
            self.run(app, name)
            self.stopped.wait(EVERY)

    def run(self, app: IngestApp, name: str) -> None:
        store = app.store()
        try:
            with _FORKING:
                beat(store.client, store.keys, name)
        except StoreUnavailable as e:
            log.warning("heartbeat skipped: %s", e)
