"""News ingestion worker: seed documents and feeds through Celery into Redis.

``celery -A worker worker`` finds the Celery app as ``worker.celery``.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "celery":
        from worker.app import app

        return app
    raise AttributeError(name)
