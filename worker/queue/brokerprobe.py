"""Asking the broker (Redis or RabbitMQ) whether it answers, and how much work waits in it.

Both go through kombu's connection of the Celery app, so they check exactly the broker the
producers and workers use. A refused login is a *channel* error in py-amqp
(``AccessRefused``), not a connection error: it is told apart from "no such queue".
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError

from worker.core.logs import redact

log = logging.getLogger(__name__)
CONNECT_TIMEOUT = 5.0
# How RabbitMQ and Redis say that the user or password is wrong.
REFUSED = ("ACCESS_REFUSED", "WRONGPASS", "NOAUTH", "Authentication required", "username-password")


def broker_problem(app: Celery) -> str | None:
    """Why the app's broker cannot be used (one line), or None when it answers."""
    with app.connection_for_read() as conn:
        return _connect(conn)


def _connect(conn: Any) -> str | None:
    faults: tuple[type[BaseException], ...] = (
        *conn.connection_errors,
        *conn.channel_errors,
        OperationalError,
        OSError,
    )
    try:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=CONNECT_TIMEOUT)
        conn.default_channel  # noqa: B018 - opening the channel is the check (Redis: PING)
    except faults as e:
        return describe(e)
    return None


def describe(error: BaseException) -> str:
    """A broker fault as one line without passwords; a refused login says what to fix."""
    text = redact(" ".join(str(error).split())) or type(error).__name__
    if refused(error):
        return f"the broker refused the login ({text}): check the user and password"
    return text


def refused(error: BaseException) -> bool:
    """True when the broker turned the credentials down (retrying cannot help)."""
    return any(sign in str(error) for sign in REFUSED)


def queue_depth(app: Celery, queue: str) -> int | None:
    """Messages (tasks) waiting in the broker queue; None when the broker cannot be reached.

    A passive declare answers on both brokers: Redis counts the list, RabbitMQ returns the
    queue's ``message_count``. Messages a worker holds unacknowledged are not included.
    """
    with app.connection_for_read() as conn:
        problem = _connect(conn)
        if problem is not None:
            log.warning("broker unreachable for queue depth: %s", problem)
            return None
        missing: tuple[type[BaseException], ...] = tuple(conn.channel_errors)
        down: tuple[type[BaseException], ...] = (
            *conn.connection_errors,
            OperationalError,
            OSError,
        )
        channel: Any = conn.default_channel
        try:
            declared = channel.queue_declare(queue=queue, passive=True)
        except missing:
            return 0  # no such queue yet (Redis drops an empty list): nothing waits
        except down as e:
            log.warning("broker unreachable for queue depth: %s", describe(e))
            return None
    return int(declared.message_count)
