"""The Celery app: JSON only, late acks, one visibility timeout everywhere Celery reads it.

Nothing here runs at import. :func:`make_app` builds an app from settings the caller
read once and the store's URL; the app carries both (``app.settings``, ``app.store()``)
so tasks and worker steps never read the environment again. ``celery -A worker`` finds
the app through ``worker.celery`` (:mod:`worker.runtime.entry`), built on first use.
"""

from __future__ import annotations

import os
from typing import Any

from worker.core.protocol import TASK_POLL_FEEDS, is_amqp, is_redis_url
from worker.core.settings import Settings
from worker.queue import tasks
from worker.queue.base import IngestApp
from worker.queue.heartbeat import Heartbeat
from worker.queue.preload import Preload
from worker.queue.recovery import KombuGuard, Recovery, restore_interval
from worker.queue.shutdown import install_shutdown_bound
from worker.queue.sololimits import SoloTimeLimits
from worker.queue.tasklogs import install_celery_hooks

QUEUE_TYPE = "quorum"


def default_concurrency(cpus: int | None = None) -> int:
    """Worker processes when ``INGEST_WORKER_CONCURRENCY`` is unset: one per CPU, and one more.

    ``cpus`` defaults to the CPUs this process may run on. A child waits for Redis to run
    its batch's scripts for about a third of its time, more with the near-duplicate index
    (docs/performance.md); the extra child keeps every CPU busy meanwhile (measured: 9 %
    more documents per second on two cores, ``./dev bench``).
    """
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cpus or 1) + 1


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
    broker = settings.broker_for(url)
    amqp_only: dict[str, Any] = {}
    if is_amqp(broker):
        # The producer counts an input as queued only once the broker confirmed the message.
        transport["confirm_publish"] = True
        # Replicated (Raft) queues that survive a RabbitMQ node: no priorities on them.
        amqp_only["task_default_queue_type"] = QUEUE_TYPE
    redis_only: dict[str, Any] = {}
    if is_redis_url(broker):
        # kombu's Redis transport, handing the entries it cannot read to the worker.
        redis_only["broker_transport"] = "worker.queue.transport:QuarantineTransport"
    return {
        **redis_only,
        **amqp_only,
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
        # The soft limit rejects the input being prepared (worker.timeout). The hard one
        # kills the process and requeues the task: it comes back as a batch lost with its
        # worker, processed one input at a time (worker.pipeline.process).
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        "task_acks_on_timeout": False,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure": True,
        "task_default_queue": settings.queue,
        "task_default_exchange": settings.queue,
        "task_default_routing_key": settings.queue,
        "worker_prefetch_multiplier": 1,
        # Checks every message before Celery unpacks it (worker.queue.malformed).
        "worker_consumer": "worker.queue.intake:IngestConsumer",
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_concurrency": settings.worker_concurrency or default_concurrency(),
        "worker_hijack_root_logger": True,
        "broker_channel_error_retry": True,
        # `celery -A worker beat` polls the subscribed feeds. No expiry on the check: behind
        # a long backlog it would expire every time and feeds would starve; a late or
        # repeated check is harmless, as each due feed is claimed atomically.
        # One beat leads, however many run (worker.queue.beatlead).
        "beat_scheduler": "worker.queue.beatlead:LeaderScheduler",
        "beat_schedule": {
            "poll-feeds": {"task": TASK_POLL_FEEDS, "schedule": settings.feed_poll_every}
        },
        # Its state goes to the data folder, not to the folder beat was started in.
        "beat_schedule_filename": str(settings.data_dir / "celerybeat-schedule"),
        # SIGTERM is a warm shutdown that exits once running tasks are done, bounded by
        # INGEST_WORKER_SOFT_SHUTDOWN_TIMEOUT (worker.queue.shutdown); Celery's own soft
        # shutdown would sleep that long whatever the tasks do.
        "worker_soft_shutdown_timeout": 0,
        "worker_send_task_events": settings.task_events,
        "task_send_sent_event": settings.task_events,
    }


def make_app(settings: Settings, url: str) -> IngestApp:
    """A configured Celery app for the store at ``url``, with the tasks registered."""
    app = IngestApp(settings, url)
    app.conf.update(celery_config(settings, url))
    tasks.register(app)
    app.steps["worker"].add(KombuGuard)
    app.steps["worker"].add(Recovery)
    app.steps["worker"].add(Preload)
    app.steps["worker"].add(SoloTimeLimits)
    app.steps["worker"].add(Heartbeat)
    install_celery_hooks(settings)
    install_shutdown_bound(settings.worker_soft_shutdown_timeout)
    return app
