"""The typed Python client: the one way in to read, for services, the CLI and the API.

::

    from worker.read.client import Consumer, IngestClient

    client = IngestClient("redis://:password@host:6379/0", namespace="ingest")
    record = client.get("seed-0123456789abcdef01234567")
    for record in client.records(since="2024-01-01", source="a.txt", limit=50):
        ...
    Consumer(client, "search-index", "host-1", handle).run()

The reads live in the storage layer, split by what they read: records
(:mod:`worker.storage.read_records`), outcomes and rejections
(:mod:`worker.storage.read_rejections`), event streams and consumer groups
(:mod:`worker.storage.read_streams`), and what the status page shows
(:mod:`worker.storage.read_status`). This client is all four.
"""

from __future__ import annotations

from typing import Any

from worker.core.events import Event
from worker.read.consumer import Consumer, ConsumerStats, Handler
from worker.storage.connection import Redis, connect
from worker.storage.read_records import RecordReads
from worker.storage.read_rejections import RejectionReads
from worker.storage.read_status import Activity, HostState, StatusReads, StoreSize
from worker.storage.read_streams import GroupInfo, StreamReads
from worker.storage.reader import Position
from worker.storage.scores import Bound, to_bound

__all__ = [
    "Activity",
    "Bound",
    "Consumer",
    "ConsumerStats",
    "Event",
    "GroupInfo",
    "Handler",
    "HostState",
    "IngestClient",
    "Position",
    "StoreSize",
    "to_bound",
]


class IngestClient(RecordReads, RejectionReads, StreamReads, StatusReads):
    """Reads records, rejections and events from one Redis, under one namespace.

    ``url`` is a Redis URL, or a client already connected (the API shares its store's).
    """

    def __init__(self, url: str | Redis, namespace: str = "ingest") -> None:
        super().__init__(connect(url) if isinstance(url, str) else url, namespace)

    def consumer(self, group: str, name: str, handler: Handler, **options: Any) -> Consumer:
        """A Consumer of this client's streams; see worker.read.consumer for the options."""
        return Consumer(self, group, name, handler, **options)
