"""Status page time: ``GET /`` of ``ingest serve`` on 100,000 records and 1,000 feeds.

    python benchmarks/status_page.py [--records 100000] [--feeds 1000] [--rounds 20]

Starts a private redis-server and fills it through the store's own write path
(``Store.commit``: the upsert and reject scripts, which also count the activity), writes
each feed's polling state with ``FeedState`` (one in five failing, some backing off) and
a feeds file subscribing to them all, adds three hours of per-minute activity in the
counters' real format (``HINCRBY`` on ``Keys.activity``), then starts one ``ingest serve``
and times ``GET /`` (default view, failing first), ``GET /?sort=url&page=10`` and
``GET /?reason=seed.bad_date``. Prints one JSON line per view: median and slowest of
``--rounds`` requests, and the page's size.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from http_api import KEY, start_api  # type: ignore[import-not-found]  # run as a script

from worker.core.models import Accepted, Record, Refused, Rejection
from worker.core.settings import Settings
from worker.runtime.embedded import RedisServer, free_port
from worker.storage.store import Store
from worker.text.normalise import content_hash

BATCH = 500


def record(n: int, feeds: int) -> Record:
    title = f"Headline number {n} about the harbour"
    body = f"Paragraph {n}: the council met again and agreed on item {n * 7 % 1000}."
    published = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
    return Record.model_validate(
        {
            "id": f"feed-{n:024x}",
            "kind": "feed",
            "source": feed_url(n % feeds),
            "title": title,
            "published": published,
            "paragraphs": [body],
            "text": body,
            "word_count": len(body.split()),
            "content_hash": content_hash(title, body),
            "ingested_at": published,
            "version": 1,
            "language": "en",
        }
    )


def feed_url(n: int) -> str:
    return f"https://news{n % 300}.example/feeds/{n}.xml"


def refused(n: int) -> Refused:
    rejection = Rejection(
        source=feed_url(n),
        reason=("seed.bad_date", "feed.not_a_feed", "entry.filtered")[n % 3],
        detail=f"example detail {n}",
        rejected_at=datetime.now(UTC),
        input_id=f"rej-{n}",
        kind="feed",
    )
    return Refused(f"rej-{n}", rejection)


def fill(store: Store, records: int, feeds: int, rejections: int) -> None:
    for start in range(0, records, BATCH):
        items = [
            Accepted(f"in-{n}", record(n, feeds)) for n in range(start, min(start + BATCH, records))
        ]
        store.commit(items)  # type: ignore[arg-type]
    for start in range(0, rejections, BATCH):
        store.commit([refused(n) for n in range(start, min(start + BATCH, rejections))])  # type: ignore[misc]
    now = time.time()
    rng = random.Random(1)
    for n in range(feeds):
        url = feed_url(n)
        store.feeds.succeeded(url, "ok", now=now - rng.uniform(0, 900))
        failures = 1 + n % 3 if n % 5 == 0 else 0  # 1: failing; 2, 3: backing off
        for _ in range(failures):
            store.feeds.failed(url, "feed.http_503", "answered 503 Service Unavailable", now=now)
    pipe = store.client.pipeline(transaction=False)
    minute = int(now) // 60
    for m in range(minute - 180, minute):
        for outcome, most in (("created", 40), ("updated", 8), ("duplicate", 12), ("rejected", 3)):
            pipe.hincrby(store.keys.activity(m // 60), f"{m}:{outcome}", rng.randint(0, most))
    pipe.execute()


def feeds_file(path: Path, feeds: int) -> None:
    path.write_text("".join(f'[[feed]]\nurl = "{feed_url(n)}"\n\n' for n in range(feeds)))


def timed(client: httpx.Client, url: str, rounds: int) -> dict[str, object]:
    times, size = [], 0
    client.get(url).raise_for_status()  # warm: the feeds file read, the scripts loaded
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        response.raise_for_status()
        size = len(response.content)
    return {
        "path": "/" + url.split("/", 3)[-1],
        "median_ms": round(statistics.median(times) * 1000, 1),
        "max_ms": round(max(times) * 1000, 1),
        "bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--rejections", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(Path(folder), persist=False).start()
        try:
            settings = Settings(redis_url=server.url, namespace="bench")
            store = Store.from_url(server.url, settings)
            began = time.perf_counter()
            fill(store, args.records, args.feeds, args.rejections)
            filled = time.perf_counter() - began
            print(json.dumps({"filled_s": round(filled, 1), "records": store.stats()["records"]}))
            feeds = Path(folder) / "feeds.toml"
            feeds_file(feeds, args.feeds)
            port = free_port()
            api = start_api(server.url, port, INGEST_FEEDS_FILE=str(feeds))
            try:
                base = f"http://127.0.0.1:{port}"
                headers = {"Authorization": f"Bearer {KEY}"}
                with httpx.Client(headers=headers, timeout=60) as client:
                    for path in ("/", "/?sort=url&page=10", "/?reason=seed.bad_date"):
                        print(json.dumps(timed(client, base + path, args.rounds)))
            finally:
                api.terminate()
                api.wait(30)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
