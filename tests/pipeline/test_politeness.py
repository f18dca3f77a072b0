"""Per-host politeness with real workers: a loopback server records each request's start,
end and how many were in flight; several feeds on one host never overlap, start at least
the delay apart, and a Retry-After from the host holds back every feed on it."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.sources.feedserver import FeedServer, Handler
from tests.support.helpers import WorkerProcess, counts_add_up, ingest, reads, rss_bytes, wait_until
from worker.core.settings import Settings
from worker.storage.store import Store

LOOPBACK = "127.0.0.0/8"


@dataclass
class Recorder:
    """A feed route that takes ``work`` seconds and records overlapping requests."""

    work: float = 0.3
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    peak: int = 0
    starts: dict[str, float] = field(default_factory=dict)

    def __call__(self, h: Handler) -> None:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.starts[h.path] = time.monotonic()
        time.sleep(self.work)  # the point: a request that takes time, so overlaps would show
        with self.lock:
            self.in_flight -= 1
        h.reply(200, rss_bytes((h.path, f"Story {h.path}", "Text.")))


@pytest.fixture
def server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    yield server
    server.close()


def start_worker(redis_url: str, tmp_path: Path, **env: str) -> WorkerProcess:
    feeds = tmp_path / "feeds.toml"
    if not feeds.exists():
        feeds.write_text("")
    return WorkerProcess(
        redis_url,
        concurrency=4,
        INGEST_FEED_ALLOWED_NETWORKS=LOOPBACK,
        INGEST_FEEDS_FILE=str(feeds),
        **env,
    ).start()


def fetch_all(
    redis_url: str, store: Store, tmp_path: Path, urls: list[str], **env: str
) -> WorkerProcess:
    """Enqueue the feeds, let a worker fetch them all, stop it; the stopped worker."""
    worker = start_worker(redis_url, tmp_path, **env)
    try:
        args = [a for u in urls for a in ("--feed", u)]
        assert ingest("enqueue", *args, url=redis_url).returncode == 0
        wait_until(lambda: counts_add_up(store), timeout=60, what=f"{len(urls)} feeds fetched")
    finally:
        worker.stop()
    return worker


def test_one_host_one_fetch_at_a_time_and_the_delay_between_starts(
    redis_url: str, server: FeedServer, store: Store, tmp_path: Path
) -> None:
    recorder = Recorder()
    urls = [server.url(f"/f{n}") for n in range(6)]
    for n in range(6):
        server.route(f"/f{n}")(recorder)
    # A slot more than 0.5 s away is not waited for in the process: the task is deferred.
    worker = fetch_all(
        redis_url, store, tmp_path, urls, INGEST_FEED_HOST_DELAY="1.0", INGEST_FEED_HOST_WAIT="0.5"
    )
    assert store.stats()["records"] == 6
    assert recorder.peak == 1  # four worker processes, yet never two requests at once
    starts = sorted(recorder.starts.values())
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.95, gaps  # the delay, on Redis's clock, between two starts
    assert "deferring batch" in worker.log.read_text()  # waited off the process


SPELLINGS = ("127.0.0.1", "127.1", "0x7f.0.0.1", "2130706433", "0177.0.0.1", "[::ffff:127.0.0.1]")


def test_every_spelling_of_one_host_waits_the_delay(
    redis_url: str, server: FeedServer, store: Store, tmp_path: Path
) -> None:
    """Politeness counts the host, not how its URL spells it: one address, one queue."""
    recorder = Recorder(work=0.0)
    urls = []
    for n, host in enumerate(SPELLINGS):
        server.route(f"/s{n}")(recorder)
        urls.append(server.url(f"/s{n}", host=host))
    fetch_all(redis_url, store, tmp_path, urls, INGEST_FEED_HOST_DELAY="0.8")
    assert store.stats()["records"] == len(SPELLINGS), list(reads(store).rejections())
    gaps = [b - a for a, b in itertools.pairwise(sorted(recorder.starts.values()))]
    assert min(gaps) >= 0.75, gaps


def test_two_at_a_time_when_the_feeds_file_allows_it(
    redis_url: str, server: FeedServer, store: Store, tmp_path: Path
) -> None:
    recorder = Recorder(work=1.0)
    for n in range(4):
        server.route(f"/f{n}")(recorder)
    (tmp_path / "feeds.toml").write_text(
        "[defaults]\nper_host_concurrency = 2\nper_host_delay = 0\n"
    )
    worker = start_worker(redis_url, tmp_path)
    try:
        args = [a for n in range(4) for a in ("--feed", server.url(f"/f{n}"))]
        assert ingest("enqueue", *args, url=redis_url).returncode == 0
        wait_until(lambda: counts_add_up(store), timeout=60, what="four feeds fetched")
    finally:
        worker.stop()
    assert recorder.peak == 2


def test_retry_after_holds_back_every_feed_on_the_host(
    redis_url: str, server: FeedServer, store: Store, settings: Settings, tmp_path: Path
) -> None:
    server.route("/busy")(lambda h: h.reply(429, b"slow down", Retry_After="3"))
    recorder = Recorder(work=0.0)
    server.route("/other")(recorder)
    worker = start_worker(redis_url, tmp_path, INGEST_FEED_HOST_DELAY="0")
    try:
        assert ingest("enqueue", "--feed", server.url("/busy"), url=redis_url).returncode == 0
        wait_until(lambda: store.stats()["rejections"] == 1, timeout=30, what="429")
        asked = time.monotonic()
        assert ingest("enqueue", "--feed", server.url("/other"), url=redis_url).returncode == 0
        wait_until(lambda: counts_add_up(store), timeout=30, what="the other feed")
    finally:
        worker.stop()
    assert recorder.starts["/other"] - asked >= 2.0  # the host's 3 s, less the 429's own time
    assert [r.reason for r in reads(store).rejections()] == ["feed.http_429"]
