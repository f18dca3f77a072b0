"""Logging for the `ingest` command and the Celery workers: text, or one JSON object per line.

``INGEST_LOG_FORMAT=json`` gives lines like
``{"ts": "...Z", "level": "INFO", "logger": "worker.queue.tasks", "message": "...",
"task_id": "...", "task_name": "ingest.process_batch"}`` (the task fields only inside a
task: :mod:`worker.queue.tasklogs` adds them and dresses Celery's own handlers). Whatever
the format, a password in a URL (``scheme://user:secret@host``) is masked before a line is
written: logs are read by more people than the configuration is.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from worker.core.settings import Settings
from worker.core.textsafe import redact_query_secrets

# The password part of scheme://user:password@host (user may be empty).
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every URL password (user info or ``?password=``) replaced by ``***``."""
    return redact_query_secrets(_URL_PASSWORD.sub(r"\1***@", text))


# Fields of the running unit of work (Celery's task), added by the layer that runs it.
_CONTEXT: list[Callable[[], dict[str, str]]] = []


def add_context(fields: Callable[[], dict[str, str]]) -> None:
    """Add ``fields()`` to every JSON line from now on (once, however often it is called)."""
    if fields not in _CONTEXT:
        _CONTEXT.append(fields)


_PLAIN = logging.Formatter()  # formats a traceback as every standard formatter does


class RedactPasswords(logging.Filter):
    """Masks URL passwords in the message and the traceback before any formatter sees them.

    The traceback is formatted here, redacted, and left in ``record.exc_text``, which every
    ``logging.Formatter`` (Celery's included) prints instead of formatting it again.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[0] is not None:
            text = record.exc_text or _PLAIN.formatException(record.exc_info)
            record.exc_text = redact(text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, and the task when in one."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for fields in _CONTEXT:
            data.update(fields())
        if record.exc_info and record.exc_info[0] is not None:
            data["exc"] = redact(record.exc_text or self.formatException(record.exc_info))
        return orjson.dumps(data).decode()


def dress(handler: logging.Handler, settings: Settings) -> None:
    """Give a handler the configured format and the password filter."""
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    if not any(isinstance(f, RedactPasswords) for f in handler.filters):
        handler.addFilter(RedactPasswords())


def setup_logging(settings: Settings) -> None:
    """Logging for the `ingest` command: stderr (stdout belongs to --json lines)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    dress(handler, settings)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.captureWarnings(settings.log_format == "json")
