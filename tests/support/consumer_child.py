"""A consumer process for the crash tests: prints each event it is handed, then blocks or acks.

usage: python tests/support/consumer_child.py URL GROUP NAME block|ack MIN_IDLE [LIMIT]

``block``: the handler prints the event and then waits forever, so the test can SIGKILL
the process between read and acknowledgement. ``ack``: the handler returns and the event
is acknowledged; the process exits after LIMIT events.
"""

from __future__ import annotations

import sys
import threading

import orjson

from worker.read.client import Consumer, Event, IngestClient


def main(url: str, group: str, name: str, mode: str, min_idle: str, limit: str = "0") -> None:
    def handle(event: Event) -> None:
        line = {**event.to_json(), "deliveries": event.deliveries}
        sys.stdout.write(orjson.dumps(line).decode() + "\n")
        sys.stdout.flush()
        if mode == "block":
            threading.Event().wait()

    client = IngestClient(url, "test")
    consumer = Consumer(
        client, group, name, handle, min_idle=float(min_idle), claim_interval=0.1, block=0.1
    )
    consumer.run(limit=int(limit) or None)


if __name__ == "__main__":
    main(*sys.argv[1:])
