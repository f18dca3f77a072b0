"""The typed Python client of downstream services: reads and the change stream.

::

    from worker.read.client import Consumer, IngestClient

    client = IngestClient("redis://:password@host:6379/0", namespace="ingest")
    record = client.get("seed-0123456789abcdef01234567")
    for record in client.records(since="2024-01-01", source="a.txt", limit=50):
        ...
    Consumer(client, "search-index", "host-1", handle).run()

The reads are :class:`worker.storage.reads.RecordReader`, the one read implementation
(``ingest records``/``ingest rejections`` use it too).
"""

from __future__ import annotations

from typing import Any

from worker.core.events import Event
from worker.core.keys import Keys
from worker.read.consumer import Consumer, ConsumerStats, Handler
from worker.storage.connection import Redis, connect
from worker.storage.reads import GroupInfo, RecordReader, to_bound

__all__ = [
    "Consumer",
    "ConsumerStats",
    "Event",
    "GroupInfo",
    "Handler",
    "IngestClient",
    "to_bound",
]


class IngestClient(RecordReader):
    """Reads records, rejections and events from one Redis, under one namespace."""

    def __init__(self, url: str | Redis, namespace: str = "ingest") -> None:
        super().__init__(connect(url) if isinstance(url, str) else url, Keys(namespace))

    def consumer(self, group: str, name: str, handler: Handler, **options: Any) -> Consumer:
        """A Consumer of this client's streams; see worker.read.consumer for the options."""
        return Consumer(self, group, name, handler, **options)
