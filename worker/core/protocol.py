"""Names shared by producers and workers: task names, input kinds with bytes, URL schemes.

They live here, at the bottom, so that code which only sends or reads messages never
imports the module that builds the Celery app.
"""

from __future__ import annotations

from worker.core.models import InputKind

TASK_PROCESS_BATCH = "ingest.process_batch"
TASK_POLL_FEEDS = "ingest.poll_feeds"
# Kinds whose envelope carries bytes, which the producer parks in Redis (pipeline.parked).
BYTES_KINDS = frozenset({InputKind.SEED, InputKind.FEED})
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# A Redis/Valkey Cluster: any reachable nodes, comma-separated; the store only (kombu has no
# cluster transport, so the broker stays a plain Redis or RabbitMQ).
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
AMQP_SCHEMES = ("amqp://", "amqps://", "pyamqp://")


def is_amqp(url: str) -> bool:
    """True for a RabbitMQ (AMQP) broker URL."""
    return url.startswith(AMQP_SCHEMES)


def is_redis_url(url: str) -> bool:
    """True for a Redis URL (TCP, TLS or a Unix socket); a cluster URL is not one."""
    return url.startswith(REDIS_SCHEMES)


def is_cluster_url(url: str) -> bool:
    """True for a Redis Cluster URL (``redis+cluster://`` or ``rediss+cluster://``)."""
    return url.startswith(CLUSTER_SCHEMES)
