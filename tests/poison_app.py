"""A test-only Celery app: the real one, with seed inputs that misbehave inside the worker.

Start a worker with ``-A tests.poison_app``. It wraps ``worker.pipeline.process.prepare`` in the
worker process (production code has no hook for this):

- data containing ``POISON-KILL`` SIGKILLs the pool process every time, as a document
  that crashes a C extension would; each kill appends a line to ``$POISON_DIR/kills``;
- data containing ``POISON-SLOW-ONCE`` writes the pool process id to
  ``$POISON_DIR/slow-started`` and sleeps, the first time only, so a test can kill the
  process while it is in the middle of a task.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from worker.core.models import Envelope, Prepared
from worker.core.settings import Settings
from worker.pipeline import process as pipeline
from worker.runtime.entry import celery_app

KILL = b"POISON-KILL"
SLOW_ONCE = b"POISON-SLOW-ONCE"
_prepare = pipeline.prepare


def _poisoned(envelope: Envelope, settings: Settings, *args: Any) -> list[Prepared]:
    folder = Path(os.environ["POISON_DIR"])
    data = envelope.data or b""
    if KILL in data:
        with (folder / "kills").open("a") as f:
            f.write(f"{envelope.input_id}\n")
        os.kill(os.getpid(), signal.SIGKILL)
    if SLOW_ONCE in data and not (folder / "slow-started").exists():
        (folder / "slow-started").write_text(str(os.getpid()))
        time.sleep(120)
    return _prepare(envelope, settings, *args)


pipeline.prepare = _poisoned
app = celery_app()
__all__ = ["app"]
