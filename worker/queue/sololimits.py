"""Worker step: the task time limits in the solo pool, which Celery does not enforce there.

``ingest run`` processes a run of one task in the solo pool (no process pool to start and
stop), where Celery ignores ``task_soft_time_limit`` and ``task_time_limit``: a hostile
feed could hold the run for ever. The solo pool runs each task in the worker's main
thread, so there:

- the soft limit is a ``SIGALRM`` timer, whose handler raises ``SoftTimeLimitExceeded``
  in the task, as the prefork pool's child does on ``SIGUSR1``: the input being prepared
  is rejected as ``worker.timeout`` and the task goes on with the others;
- the hard limit is a watchdog thread: past it, the task is stuck where no exception
  reaches it, and the worker process exits, as a prefork child is killed. Its task stays
  unacknowledged, delivered again later (and rejected after ``INGEST_MAX_DELIVERIES``),
  and ``ingest run`` reports its worker gone.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

from celery import bootsteps
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import task_postrun, task_prerun

log = logging.getLogger(__name__)
HARD_LIMIT_EXIT = 3  # the worker's exit status when a task passed the hard limit


class SoloTimeLimits(bootsteps.Step):
    """Enforce the task time limits when the worker's pool is the solo one."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        from celery.concurrency.solo import TaskPool as SoloPool  # with the worker only

        pool = parent.pool_cls
        if isinstance(pool, type) and issubclass(pool, SoloPool):
            conf = parent.app.conf
            limits = Limits(conf.task_soft_time_limit, conf.task_time_limit)
            task_prerun.connect(limits.started, weak=False)
            task_postrun.connect(limits.ended, weak=False)


class Limits:
    """The timers of the task running in the main thread (one at a time: solo)."""

    def __init__(self, soft: float | None, hard: float | None) -> None:
        self.soft, self.hard = soft, hard
        self.running: str | None = None
        self.watchdog: threading.Timer | None = None

    def started(self, task_id: str | None = None, **_: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # not the solo pool's task
        self.running = task_id
        if self.soft:
            signal.signal(signal.SIGALRM, self._soft_limit)
            signal.setitimer(signal.ITIMER_REAL, self.soft)
        if self.hard:
            self.watchdog = threading.Timer(self.hard, self._hard_limit, args=(task_id,))
            self.watchdog.daemon = True
            self.watchdog.start()

    def ended(self, task_id: str | None = None, **_: Any) -> None:
        if task_id is None or task_id != self.running:
            return
        self.running = None
        signal.setitimer(signal.ITIMER_REAL, 0)
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None

    def _soft_limit(self, _signum: int, _frame: FrameType | None) -> None:
        if self.running is not None:
            raise SoftTimeLimitExceeded(f"soft time limit ({self.soft:g}s) exceeded")

    def _hard_limit(self, task_id: str | None) -> None:
        if self.running != task_id:
            return
        log.error(
            "Hard time limit (%gs) exceeded for task %s: the solo worker stops", self.hard, task_id
        )
        logging.shutdown()
        sys.stderr.flush()
        os._exit(HARD_LIMIT_EXIT)
