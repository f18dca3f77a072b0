"""Consumer throughput: events per second through a consumer group, on a private Redis.

    python benchmarks/consumer_rate.py [--events 100000] [--batch 100]

Writes ``--events`` record events (the fields the store's script writes) to the stream of
a fresh redis-server started for the run, then times one :class:`worker.read.client.Consumer`
with a trivial handler until every event is handled and acknowledged (one XACK per event,
as in production). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path

from worker.read.client import Consumer, Event, IngestClient
from worker.runtime.embedded import RedisServer


def fill(client: IngestClient, events: int) -> None:
    """Append ``events`` record events, pipelined a thousand at a time."""
    key = client.keys.events("records")
    for start in range(0, events, 1000):
        pipe = client._redis.pipeline(transaction=False)
        for n in range(start, min(start + 1000, events)):
            digest = hashlib.sha256(str(n).encode()).hexdigest()
            fields = {
                "event": "created",
                "id": f"seed-{digest[:24]}",
                "version": 1,
                "kind": "seed",
                "source": f"{n}.txt",
                "content_hash": digest,
                "at": "2024-03-05T00:00:00.000000Z",
            }
            pipe.xadd(key, fields)  # type: ignore[arg-type]
        pipe.execute()


def measure(client: IngestClient, events: int, batch: int) -> dict[str, float]:
    handled = 0

    def handler(event: Event) -> None:
        nonlocal handled
        handled += 1

    consumer = Consumer(client, "bench", "c1", handler, batch=batch)
    started = time.perf_counter()
    stats = consumer.run(limit=events)
    elapsed = time.perf_counter() - started
    assert stats.handled == handled == events, stats
    pending = client._redis.xpending(client.keys.events("records"), "bench")["pending"]
    assert pending == 0, pending
    return {
        "events": events,
        "batch": batch,
        "seconds": round(elapsed, 2),
        "events_per_second": round(events / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(Path(folder), persist=False).start()
        try:
            client = IngestClient(server.url, "bench")
            fill(client, args.events)
            print(json.dumps(measure(client, args.events, args.batch)))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
