"""Worker step: load the language model, numpy and the kernels once, in the main process.

The pool's processes are forked after this step, so each starts with the model in memory
(shared copy-on-write) instead of loading it on its first document, and with glibc's
allocator set to keep what a batch freed (:mod:`worker.queue.allocator`).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import bootsteps

log = logging.getLogger(__name__)


class Preload(bootsteps.Step):
    """Load what every input needs before the pool forks."""

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        from worker.queue.allocator import keep_freed_memory

        keep_freed_memory()
        from worker.text import neardup
        from worker.text.language import model

        model()
        neardup.minhasher()  # the compiled kernel's character table: about 0.1 s
        log.debug("language model and numpy loaded before the pool starts")
