"""Operations: the broker's queue depth and a Prometheus text export of the live counters.

``ingest metrics --serve`` answers ``GET /metrics`` with the counters read from Redis at
each scrape, so any number of workers on any number of hosts add up in one place. Task
runtimes come from Flower's own ``/metrics`` (``flower_task_runtime_seconds``), which
sees every task through the workers' events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError

from worker.core.errors import StoreUnavailable
from worker.storage.store import Store

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def queue_depth(app: Celery, queue: str) -> int | None:
    """Messages (tasks) waiting in the broker queue; None when the broker cannot be reached.

    A passive declare answers on both brokers: Redis counts the list, RabbitMQ returns the
    queue's ``message_count``. Messages a worker holds unacknowledged are not included.
    """
    with app.connection_for_read() as conn:
        missing: tuple[type[BaseException], ...] = tuple(conn.channel_errors)
        down: tuple[type[BaseException], ...] = (
            *conn.connection_errors,
            OperationalError,
            OSError,
        )
        try:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=5)
            channel: Any = conn.default_channel
            declared = channel.queue_declare(queue=queue, passive=True)
        except missing:
            return 0  # no such queue yet (Redis drops an empty list): nothing waits
        except down as e:
            log.warning("broker unreachable for queue depth: %s", e)
            return None
    return int(declared.message_count)


@dataclass
class Metric:
    """One metric family in the Prometheus text format."""

    name: str
    kind: str
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def lines(self) -> Iterator[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} {self.kind}"
        for labels, value in self.samples:
            yield f"{self.name}{_labels(labels)} {value:g}"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _one(name: str, kind: str, help_: str, value: float) -> Metric:
    return Metric(name, kind, help_, [({}, value)])


def collect(store: Store, depth: int | None) -> list[Metric]:
    """The metric families for the current counters (read live from Redis)."""
    counts = store.stats()
    reasons = store.rejection_reasons()
    rejected = Metric("ingest_rejections_total", "counter", "Inputs rejected, by reason code.")
    rejected.samples = [({"reason": r}, n) for r, n in reasons.items()]
    metrics = [
        _one("ingest_up", "gauge", "1 when the store answered this scrape.", 1),
        _one("ingest_records_created_total", "counter", "Records created.", counts["records"]),
        _one("ingest_records_updated_total", "counter", "Record updates.", counts["updates"]),
        _one("ingest_duplicates_total", "counter", "Duplicate inputs.", counts["duplicates"]),
        rejected,
        _one("ingest_inputs_enqueued_total", "counter", "Inputs enqueued.", counts["enqueued"]),
        _one(
            "ingest_inputs_queued", "gauge", "Inputs enqueued, not yet decided.", counts["queued"]
        ),
    ]
    streams = Metric("ingest_stream_length", "gauge", "Entries retained in each event stream.")
    streams.samples = [
        ({"stream": "records"}, counts["record_events"]),
        ({"stream": "rejections"}, counts["rejection_events"]),
    ]
    metrics.append(streams)
    if depth is not None:
        metrics.append(
            _one("ingest_queue_depth", "gauge", "Tasks waiting in the broker queue.", depth)
        )
    return metrics


def render(metrics: list[Metric]) -> str:
    """The Prometheus text exposition of ``metrics``."""
    return "\n".join(line for m in metrics for line in m.lines()) + "\n"


def exposition(store: Store, app: Celery, queue: str) -> str:
    """One scrape: the counters, or ``ingest_up 0`` when the store does not answer."""
    try:
        return render(collect(store, queue_depth(app, queue)))
    except StoreUnavailable as e:
        log.warning("store unreachable for metrics: %s", e)
        return render([_one("ingest_up", "gauge", "1 when the store answered this scrape.", 0)])


def serve(host: str, port: int, scrape: Callable[[], str]) -> HTTPServer:
    """An HTTP server answering ``GET /metrics`` with ``scrape()``; call serve_forever()."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self._send(404, "not found: try /metrics\n")
                return
            self._send(200, scrape())

        def _send(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

    return HTTPServer((host, port), Handler)
