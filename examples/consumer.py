"""A downstream service: follow the record events in a consumer group, print each record.

    python examples/consumer.py --group demo

Start it twice with different ``--name`` values and the group shares the events between
them. Stop it (Ctrl-C) and start it again: it resumes where it stopped, first re-reading
what it had read and not yet acknowledged. Redis comes from ``INGEST_REDIS_URL``, else the
embedded server that ``ingest run`` left running. The contract: docs/consumers.md.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys

from worker.core.settings import get_settings
from worker.read.client import Consumer, Event, IngestClient
from worker.runtime.entry import store_url


def main() -> None:
    parser = argparse.ArgumentParser(description="Follow record events in a consumer group.")
    parser.add_argument("--group", default="demo", help="consumer group (default: demo)")
    parser.add_argument("--name", default=socket.gethostname(), help="this consumer's name")
    parser.add_argument("--count", type=int, help="stop after this many events")
    args = parser.parse_args()

    settings = get_settings()
    client = IngestClient(store_url(settings), settings.namespace)

    def handle(event: Event) -> None:
        # Raising here leaves the event pending: it is retried, then dead-lettered.
        record = client.get(event.record_id or "")
        title = record.title if record else "(pruned since)"
        print(f"{event.type:8} {event.record_id} v{event.version}  {title}", flush=True)

    consumer = Consumer(client, args.group, args.name, handle)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: consumer.stop())
    stats = consumer.run(limit=args.count)
    print(f"handled {stats.handled}, dead-lettered {stats.dead_lettered}", file=sys.stderr)


if __name__ == "__main__":
    main()
