"""Celery's side of the logging: task fields in JSON lines, and Celery's handlers dressed.

A worker, beat or flower process sets up its own log handlers; each gets the configured
format and the password filter of :mod:`worker.core.logs`.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_task
from celery.signals import after_setup_logger, after_setup_task_logger

from worker.core.logs import add_context, dress
from worker.core.settings import Settings


def task_fields() -> dict[str, str]:
    """The running Celery task's id and name, when this record is logged inside one."""
    if not current_task or current_task.request.id is None:
        return {}
    return {"task_id": str(current_task.request.id), "task_name": str(current_task.name)}


def install_celery_hooks(settings: Settings) -> None:
    """Re-dress the handlers Celery sets up in a worker, beat or flower process."""
    add_context(task_fields)

    def on_setup(logger: logging.Logger, **_: Any) -> None:
        for handler in logger.handlers:
            dress(handler, settings)
        logging.captureWarnings(settings.log_format == "json")

    # One connection per process however many apps it builds (each command, test or API
    # server makes its own): the first app's settings decide, as they do for the logging.
    after_setup_logger.connect(on_setup, weak=False, dispatch_uid="ingest.logs")
    after_setup_task_logger.connect(on_setup, weak=False, dispatch_uid="ingest.logs.task")
