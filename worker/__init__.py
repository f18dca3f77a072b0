"""News ingestion worker: seed documents and feeds through Celery into Redis.

``celery -A worker worker`` finds the Celery app as ``worker.celery``, built on first
access (importing the package does nothing else).
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "celery":
        from worker.runtime.entry import celery_app

        return celery_app()
    raise AttributeError(name)
