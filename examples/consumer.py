"""A downstream service: follow the record events in a consumer group, print each record.

    python examples/consumer.py --group demo

Start it twice with different ``--name`` values and the group shares the events between
them. Stop it (Ctrl-C) and start it again: it resumes where it stopped, first re-reading
what it had read and not yet acknowledged. The store is ``INGEST_REDIS_URL``, else the
user's embedded store, like every ``ingest`` command's (started if no command runs it, and
kept up while this runs). The contract: docs/consumers.md.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys

from worker.core.errors import IngestError
from worker.core.settings import get_settings
from worker.read.client import Consumer, Event, IngestClient
from worker.runtime.lease import using_store


def main() -> None:
    parser = argparse.ArgumentParser(description="Follow record events in a consumer group.")
    parser.add_argument("--group", default="demo", help="consumer group (default: demo)")
    parser.add_argument("--name", default=socket.gethostname(), help="this consumer's name")
    parser.add_argument("--count", type=int, help="stop after this many events")
    args = parser.parse_args()

    try:
        settings = get_settings()
        with using_store(settings) as url:
            follow(IngestClient(url, settings.namespace), args.group, args.name, args.count)
    except IngestError as e:
        sys.exit(f"error: {e}")


def follow(client: IngestClient, group: str, name: str, count: int | None) -> None:
    """Print each record event of ``group`` until stopped (or ``count`` events)."""

    def handle(event: Event) -> None:
        # Raising here leaves the event pending: it is retried, then dead-lettered.
        record = client.get(event.record_id or "")
        title = record.title if record else "(pruned since)"
        print(f"{event.type:8} {event.record_id} v{event.version}  {title}", flush=True)

    consumer = Consumer(client, group, name, handle)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: consumer.stop())
    stats = consumer.run(limit=count)
    print(f"handled {stats.handled}, dead-lettered {stats.dead_lettered}", file=sys.stderr)


if __name__ == "__main__":
    main()
