"""The Celery app: JSON only, late acks, one visibility timeout everywhere Celery reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery

from worker.logs import install_celery_hooks
from worker.settings import Settings, get_settings

TASK_PROCESS_BATCH = "ingest.process_batch"
TASK_POLL_FEEDS = "ingest.poll_feeds"


def embedded_url(data_dir: Path) -> str | None:
    """The URL of a running embedded Redis for ``data_dir``, if one is running."""
    from worker.embedded import running_url

    return running_url(data_dir)


def redis_url(settings: Settings) -> str:
    """The store's Redis URL: configured, else the running embedded server's."""
    url = settings.redis_url or embedded_url(settings.data_dir)
    if url is None:
        return "redis://127.0.0.1:6379/0"
    return url


def celery_config(settings: Settings, url: str) -> dict[str, Any]:
    """The Celery configuration; the single place the worker's behaviour is set."""
    transport = {
        "visibility_timeout": settings.visibility_timeout,
        "socket_timeout": 30,
        "socket_connect_timeout": 5,
        "retry_on_timeout": True,
        "health_check_interval": 15,
        # kombu sweeps for unacked tasks every interval x throttle seconds (100 s by
        # default), which would add up to 100 s to the recovery after a worker is killed.
        "unacked_restore_interval": restore_interval(settings.visibility_timeout),
        "unacked_restore_throttle": 1,
    }
    broker = settings.broker_url or url
    if is_amqp(broker):
        # The producer counts an input as queued only once the broker confirmed the message.
        transport["confirm_publish"] = True
    return {
        "ingest_store_url": url,
        "broker_url": broker,
        "broker_transport_options": transport,
        "result_backend_transport_options": {"visibility_timeout": settings.visibility_timeout},
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "task_serializer": "json",
        "result_serializer": "json",
        "event_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "task_default_queue": settings.queue,
        "task_default_exchange": settings.queue,
        "task_default_routing_key": settings.queue,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_concurrency": settings.worker_concurrency,
        "worker_hijack_root_logger": True,
        "broker_channel_error_retry": True,
        # `celery -A worker beat` polls the subscribed feeds. No expiry on the check: behind
        # a long backlog it would expire every time and feeds would starve; a late or
        # repeated check is harmless, as each due feed is claimed atomically.
        "beat_schedule": {
            "poll-feeds": {"task": TASK_POLL_FEEDS, "schedule": settings.feed_poll_every}
        },
        # A stop lets running tasks finish for this long, then requeues them (see README).
        "worker_soft_shutdown_timeout": settings.worker_soft_shutdown_timeout,
        "worker_send_task_events": settings.task_events,
        "task_send_sent_event": settings.task_events,
    }


def is_amqp(url: str) -> bool:
    """True for a RabbitMQ (AMQP) broker URL."""
    return url.startswith(("amqp://", "amqps://", "pyamqp://"))


def restore_interval(visibility_timeout: int) -> int:
    """Seconds between sweeps for expired unacked tasks: a quarter timeout, 1 to 10 s."""
    return max(1, min(10, visibility_timeout // 4))


def make_app(settings: Settings | None = None, url: str | None = None) -> Celery:
    """A configured Celery app; tasks live in ``worker.tasks``."""
    settings = settings or get_settings()
    from worker.recovery import Recovery, tolerate_closed_connection_on_restore

    tolerate_closed_connection_on_restore()
    app = Celery("worker", include=["worker.tasks"])
    app.conf.update(celery_config(settings, url or redis_url(settings)))
    app.steps["worker"].add(Recovery)
    return app


def configure(url: str, settings: Settings | None = None) -> None:
    """Point the process-wide app at ``url`` (used once the embedded Redis is up)."""
    app.conf.update(celery_config(settings or get_settings(), url))


app = make_app()
install_celery_hooks(get_settings())
