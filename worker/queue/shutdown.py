"""A stop that waits for running tasks only as long as it must.

SIGTERM (``docker stop``, a rolling restart) starts Celery's *warm* shutdown: the worker
takes no new task and exits as soon as its running ones are done. Celery's own warm
shutdown would wait for them without limit, and its soft shutdown (SIGQUIT, or SIGTERM
remapped to it) sleeps the whole ``worker_soft_shutdown_timeout`` even when the tasks end
in a second. So the app sets Celery's timeout to 0, and this step bounds the warm shutdown
itself: if tasks still run after ``INGEST_WORKER_SOFT_SHUTDOWN_TIMEOUT`` seconds, the
worker sends itself SIGQUIT, Celery's cold shutdown, which cancels them and hands their
messages back to the queue (Redis: "Restoring N unacknowledged message(s)").
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from celery.signals import worker_shutting_down
from celery.worker import state


def install_shutdown_bound(timeout: float) -> None:
    """Bound every warm shutdown of this process's worker by ``timeout`` seconds."""

    def on_shutting_down(sig: str = "", how: str = "", **_: Any) -> None:
        if how != "Warm" or timeout <= 0:
            return
        timer = threading.Timer(timeout, _cold_if_busy)
        timer.daemon = True
        timer.start()

    worker_shutting_down.connect(on_shutting_down, weak=False, dispatch_uid="ingest.shutdown")


def _cold_if_busy() -> None:
    if state.active_requests:
        os.kill(os.getpid(), signal.SIGQUIT)
