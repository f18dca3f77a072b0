"""A test-only Celery app: the real one, with seed inputs that misbehave inside the worker.

Start a worker with ``-A tests.support.poison_app``. It wraps
``worker.pipeline.process.prepare`` (and ``seed_record``) in the worker process
(production code has no hook for this):

- data containing ``POISON-KILL`` SIGKILLs the pool process every time, as a document
  that crashes a C extension would; each kill appends a line to ``$POISON_DIR/kills``;
- data containing ``POISON-SLOW-ONCE`` writes the pool process id to
  ``$POISON_DIR/slow-started`` and sleeps, the first time only, so a test can kill the
  process while it is in the middle of a task;
- data containing ``POISON-STUCK`` sleeps for two minutes every time (the soft time limit
  interrupts it); ``POISON-STUBBORN`` sleeps and ignores the soft time limit too, as code
  stuck in a C extension would (only the hard limit ends it); each try appends a line to
  ``$POISON_DIR/stuck``.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from worker.core.models import Envelope, Prepared, Record
from worker.core.settings import Settings
from worker.pipeline import process as pipeline
from worker.runtime.entry import celery_app

KILL = b"POISON-KILL"
SLOW_ONCE = b"POISON-SLOW-ONCE"
STUCK = b"POISON-STUCK"
STUBBORN = b"POISON-STUBBORN"
_prepare = pipeline.prepare
_seed_record = pipeline.seed_record


def _poisoned(envelope: Envelope, settings: Settings, *args: Any) -> list[Prepared]:
    folder = Path(os.environ["POISON_DIR"])
    data = envelope.data or b""
    if KILL in data:
        with (folder / "kills").open("a") as f:
            f.write(f"{envelope.input_id}\n")
        os.kill(os.getpid(), signal.SIGKILL)
    if SLOW_ONCE in data and not (folder / "slow-started").exists():
        (folder / "slow-started").write_text(str(os.getpid()))
        time.sleep(120)  # the point: an input that hangs
    return _prepare(envelope, settings, *args)


def _hanging_seed_record(data: bytes, source: str, limit: int) -> Record:
    """Inside the pipeline's handling of one input, as a hanging parser would be."""
    if STUCK in data or STUBBORN in data:
        with (Path(os.environ["POISON_DIR"]) / "stuck").open("a") as f:
            f.write(f"{source}\n")
        _sleep(120, ignore_soft_limit=STUBBORN in data)
    return _seed_record(data, source, limit)


def _sleep(seconds: float, *, ignore_soft_limit: bool) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            time.sleep(deadline - time.monotonic())
        except SoftTimeLimitExceeded:
            if not ignore_soft_limit:
                raise


pipeline.prepare = _poisoned
pipeline.seed_record = _hanging_seed_record
app = celery_app()
__all__ = ["app"]
