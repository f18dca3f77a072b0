"""Prometheus metrics of the live counters, through ``prometheus_client``.

:class:`StoreCollector` reads the counters from Redis at each scrape, so any number of
workers on any number of hosts add up in one place; ``prometheus_client`` writes the
exposition (exact values, escaped labels) and serves it from a threaded server, so one
slow or idle client never holds up another scrape. Task runtimes come from Flower's own
``/metrics`` (``flower_task_runtime_seconds``), which sees every task through the
workers' events.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from celery import Celery

from worker.core.errors import StoreUnavailable
from worker.queue.brokerprobe import queue_depth
from worker.storage.store import Store

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import Metric
    from prometheus_client.registry import Collector

# prometheus_client is imported inside functions: importing it reads /proc (its default
# registry's process collector), and importing our modules does no I/O.
log = logging.getLogger(__name__)
UP_HELP = "1 when the store answered this scrape."
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # what exposition() writes


class StoreCollector:
    """The store's counters, read when Prometheus scrapes (nothing is cached)."""

    def __init__(self, store: Store, app: Celery, queue: str) -> None:
        self.store, self.app, self.queue = store, app, queue

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        try:
            counts = self.store.stats()
            reasons = self.store.rejection_reasons()
        except StoreUnavailable as e:
            log.warning("store unreachable for metrics: %s", e)
            yield GaugeMetricFamily("ingest_up", UP_HELP, value=0)
            return
        yield GaugeMetricFamily("ingest_up", UP_HELP, value=1)
        yield from families(counts, reasons)
        depth = queue_depth(self.app, self.queue)
        if depth is not None:
            yield GaugeMetricFamily(
                "ingest_queue_depth", "Tasks waiting in the broker queue.", value=depth
            )


def families(counts: dict[str, int], reasons: dict[str, int]) -> Iterator[Metric]:
    """The metric families of one reading of the counters."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    yield CounterMetricFamily("ingest_records_created", "Records created.", counts["records"])
    yield CounterMetricFamily("ingest_records_updated", "Record updates.", counts["updates"])
    yield CounterMetricFamily("ingest_duplicates", "Duplicate inputs.", counts["duplicates"])
    rejected = CounterMetricFamily(
        "ingest_rejections", "Inputs rejected, by reason code.", labels=["reason"]
    )
    for reason, n in sorted(reasons.items()):
        rejected.add_metric([reason], n)
    yield rejected
    yield CounterMetricFamily("ingest_inputs_enqueued", "Inputs enqueued.", counts["enqueued"])
    yield GaugeMetricFamily(
        "ingest_inputs_queued", "Inputs enqueued, not yet decided.", counts["queued"]
    )
    streams = GaugeMetricFamily(
        "ingest_stream_length", "Entries retained in each event stream.", labels=["stream"]
    )
    streams.add_metric(["records"], counts["record_events"])
    streams.add_metric(["rejections"], counts["rejection_events"])
    yield streams


def registry(store: Store, app: Celery, queue: str) -> CollectorRegistry:
    """A registry holding only the store's collector."""
    from prometheus_client import CollectorRegistry

    reg = CollectorRegistry(auto_describe=False)
    reg.register(cast("Collector", StoreCollector(store, app, queue)))
    return reg


def exposition(reg: CollectorRegistry) -> str:
    """One scrape in the Prometheus text format."""
    from prometheus_client import generate_latest

    return generate_latest(reg).decode()


def serve(host: str, port: int, reg: CollectorRegistry) -> tuple[Any, threading.Thread]:
    """Serve ``GET /metrics`` from a threaded server in the background; (server, thread)."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=host, registry=reg)
    return server, thread
