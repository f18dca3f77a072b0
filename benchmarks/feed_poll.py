"""How long one poll of many subscribed feeds takes with the per-host politeness defaults.

    python benchmarks/feed_poll.py [--feeds 1000] [--hosts 10] [--workers 4]

Starts a private redis-server, one loopback HTTP server per host (127.0.0.1,
127.0.0.2, ...: distinct host names to the politeness rules, all on this machine), a
feeds file subscribing ``--feeds`` feeds spread evenly over the hosts, and one real
Celery worker with ``--workers`` processes. Beat's poll (``worker.queue.beat.poll_due``)
enqueues every feed at once (``INGEST_FEED_POLL_SPREAD=0``, so the time measured is the
politeness alone); the clock stops when every entry has its outcome. Each feed answers a
small RSS document of five entries. Host concurrency and delay are the defaults (1, 2 s)
unless overridden in the environment. Prints one JSON line: seconds, the lower bound set
by the delay, and per host the peak of requests in flight and the smallest gap between
two request starts, as the servers saw them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from worker.core.settings import Settings
from worker.queue.app import make_app
from worker.queue.beat import poll_due
from worker.runtime.embedded import RedisServer
from worker.runtime.run import worker_env
from worker.storage.store import Store

ENTRIES = 5


def celery_worker_command(queue: str, name: str, *extra: str) -> list[str]:
    """A quiet `celery worker` command line for this package's app, on one queue."""
    base = f"-m celery -A worker --quiet worker -Q {queue} -n {name}@%h"
    return [sys.executable, *base.split(), "--without-gossip", "--without-mingle", *extra]


class Log:
    """Request starts and peak in-flight requests per host, across the servers' threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight: dict[str, int] = defaultdict(int)
        self.peak: dict[str, int] = defaultdict(int)
        self.starts: dict[str, list[float]] = defaultdict(list)

    def enter(self, host: str) -> None:
        with self.lock:
            self.in_flight[host] += 1
            self.peak[host] = max(self.peak[host], self.in_flight[host])
            self.starts[host].append(time.monotonic())

    def leave(self, host: str) -> None:
        with self.lock:
            self.in_flight[host] -= 1


def feed_body(path: str) -> bytes:
    items = "".join(
        f"<item><guid>{path}-{n}</guid><title>Story {n} of {path}</title>"
        f"<description>Paragraph {n} from {path}.</description></item>"
        for n in range(ENTRIES)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{path}</title>{items}'
        "</channel></rss>"
    ).encode()


def serve(host: str, log: Log) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            log.enter(host)
            try:
                body = feed_body(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            finally:
                log.leave(host)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    log = Log()
    servers = [serve(f"127.0.0.{n + 1}", log) for n in range(args.hosts)]
    with tempfile.TemporaryDirectory() as tmp:
        feeds_file = Path(tmp) / "feeds.toml"
        feeds_file.write_text(
            "".join(
                f'[[feed]]\nurl = "http://{s.server_address[0]}:{s.server_address[1]}/f{n}"\n'
                for n in range(args.feeds)
                for s in [servers[n % args.hosts]]
            )
        )
        env = {
            "INGEST_FEEDS_FILE": str(feeds_file),
            "INGEST_FEED_ALLOWED_NETWORKS": "127.0.0.0/8",
            "INGEST_FEED_POLL_SPREAD": "0",
            "INGEST_NAMESPACE": "bench",
        }
        os.environ.update(env)
        redis = RedisServer(Path(tmp) / "redis", persist=False).start()
        try:
            print(json.dumps(run(redis.url, args, log)))
        finally:
            redis.stop()
    for server in servers:
        server.shutdown()


def run(url: str, args: argparse.Namespace, log: Log) -> dict[str, Any]:
    settings = Settings(redis_url=url)
    store = Store.from_url(url, settings)
    command = celery_worker_command(settings.queue, "bench", "--concurrency", str(args.workers))
    worker = subprocess.Popen(command, env=worker_env(url), stdout=subprocess.DEVNULL)
    try:
        time.sleep(5)  # the worker connects; its start is not what is measured
        started = time.monotonic()
        assert len(poll_due(make_app(settings, url), store, settings)) == args.feeds
        expected = args.feeds * ENTRIES
        while True:
            stats = store.stats()
            done = stats["records"] + stats["duplicates"] + stats["rejections"]
            if done >= expected:
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(60)
    per_host = args.feeds / args.hosts
    gaps = [
        min(b - a for a, b in itertools.pairwise(starts))
        for starts in (sorted(s) for s in log.starts.values())
        if len(starts) > 1
    ]
    return {
        "feeds": args.feeds,
        "hosts": args.hosts,
        "worker_processes": args.workers,
        "host_concurrency": settings.feed_host_concurrency,
        "host_delay": settings.feed_host_delay,
        "seconds": round(elapsed, 1),
        "lower_bound_seconds": round((per_host - 1) * settings.feed_host_delay, 1),
        "records": store.stats()["records"],
        "rejections": store.stats()["rejections"],
        "peak_in_flight_per_host": max(log.peak.values()),
        "min_start_gap_seconds": round(min(gaps), 3),
    }


if __name__ == "__main__":
    main()
