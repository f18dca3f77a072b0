"""Cost of a feed fetch on loopback: a full gzip body, a 304, and a gzip bomb refused.

    python benchmarks/fetch_limits.py [--rounds 200]

Starts its own HTTP server on 127.0.0.1 (allowed for this run only); no other traffic.
"""

from __future__ import annotations

import argparse
import gzip
import resource
import ssl
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from worker.core.errors import FeedFetchError
from worker.core.settings import Settings
from worker.pipeline.fetchlimits import fetch_limits
from worker.sources.fetch import fetch_feed

ITEM = b"<item><title>Headline %d</title><description>%s</description></item>"
FEED = (
    b"<rss><channel>"
    + b"".join(ITEM % (i, b"word " * 60) for i in range(500))
    + b"</channel></rss>"
)
BODIES = {
    "/feed": gzip.compress(FEED),
}


def bomb(inflated: int) -> bytes:
    """gzip of ``inflated`` zero bytes, built in pieces so this process never holds them."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    out = [squeeze.compress(zeros) for _ in range(inflated >> 20)]
    return b"".join(out) + squeeze.flush()


BODIES["/bomb"] = bomb(1 << 30)  # 1 GiB once inflated


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = BODIES[self.path]
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def timed(label: str, rounds: int, func: object) -> None:
    assert callable(func)
    started = time.perf_counter()
    for _ in range(rounds):
        func()
    ms = (time.perf_counter() - started) / rounds * 1000
    print(f"{label:<48} {ms:8.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    settings = fetch_limits(Settings(feed_allowed_networks=("127.0.0.0/8",)))
    print(
        f"feed: {len(FEED)} bytes, {len(BODIES['/feed'])} gzipped; bomb: "
        f"{len(BODIES['/bomb'])} bytes gzipped, 1 GiB inflated; cap {settings.max_bytes}"
    )
    timed("fetch 200 + gunzip", rounds, lambda: fetch_feed(f"{base}/feed", settings))
    timed(
        "fetch 304 (If-None-Match)",
        rounds,
        lambda: fetch_feed(f"{base}/feed", settings, etag='"v1"'),
    )
    timed("ssl.create_default_context() (cached per process)", 50, ssl.create_default_context)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        fetch_feed(f"{base}/bomb", settings)
    except FeedFetchError as e:
        print(
            f"bomb: {e.reason} after {(time.perf_counter() - started) * 1000:.0f} ms, peak RSS "
            f"+{(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024:.1f} MiB"
        )
    server.shutdown()


if __name__ == "__main__":
    main()
