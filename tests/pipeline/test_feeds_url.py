"""Feed URLs through the pipeline: a real loopback HTTP server, real Redis, real workers.

The fetcher's own limits (gzip, slow and huge bodies, redirects into blocked networks)
are tested in tests/sources/test_fetch.py; here, what the pipeline makes of each answer:
records, one outcome per entry, the 304 line, rejections, validators and poll state.
"""

from __future__ import annotations

import gzip
import json
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sources.feedserver import FeedServer, Handler
from tests.support.helpers import (
    WorkerProcess,
    add_enqueued,
    counts_add_up,
    env_for,
    ingest,
    reads,
    rss_bytes,
    wait_until,
)
from tests.support.procs import Child
from worker.core.models import Envelope, InputKind, Outcome
from worker.core.settings import Settings
from worker.pipeline.process import process_batch
from worker.storage.store import Store

LOOPBACK = "127.0.0.0/8"
DUE = "Scheduler: Sending due task"  # what celery beat logs at each beat


def rss(*items: tuple[str, str, str]) -> bytes:
    """A feed whose links are relative to the feed's own URL."""
    return rss_bytes(*items, extra="<link>/story/{guid}</link>")


class Publisher:
    """A feed behind conditional GET: a new body gets a new ETag."""

    def __init__(self, body: bytes) -> None:
        self.body, self.version = body, 1

    def publish(self, body: bytes) -> None:
        self.body, self.version = body, self.version + 1

    def __call__(self, h: Handler) -> None:
        etag = f'"v{self.version}"'
        if h.headers.get("If-None-Match") == etag:
            h.reply(304, ETag=etag)
        else:
            h.reply(200, gzip.compress(self.body), ETag=etag, Content_Encoding="gzip")


@pytest.fixture
def server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    yield server
    server.close()


@pytest.fixture
def url_settings(settings: Settings) -> Settings:
    # No politeness delay: these tests fetch one host back to back
    # (tests/pipeline/test_politeness.py).
    update = {"feed_allowed_networks": (LOOPBACK,), "feed_timeout": 10.0, "feed_host_delay": 0.0}
    return settings.model_copy(update=update)


def run_url(url: str, store: Store, settings: Settings, input_id: str) -> list[Outcome]:
    add_enqueued(store, 1)
    env = Envelope(input_id=input_id, kind=InputKind.FEED_URL, source=url, url=url)
    return process_batch([env.model_dump(mode="json", exclude_none=True)], store, settings)


def test_fetch_then_not_modified_then_update(
    server: FeedServer, store: Store, url_settings: Settings
) -> None:
    feed = Publisher(rss(("a", "Alpha", "First."), ("b", "Beta", "Second.")))
    server.route("/feed")(feed)
    url = server.url("/feed")

    first = run_url(url, store, url_settings, "u1")
    assert [(o.input_id, o.outcome) for o in first] == [("u1#0", "created"), ("u1#1", "created")]
    alpha = reads(store).get(first[0].id or "")
    assert alpha is not None
    assert (alpha.source, alpha.url, alpha.feed_title) == (
        url,
        server.url("/story/a"),
        "Local news",
    )

    [again] = run_url(url, store, url_settings, "u2")
    assert (again.input_id, again.outcome, again.reason, again.id) == (
        "u2",
        "duplicate",
        "feed.not_modified",
        None,
    )
    assert server.seen[1].headers["if-none-match"] == '"v1"'
    assert store.stats()["record_events"] == 2  # a 304 does no work

    feed.publish(rss(("a", "Alpha", "First, corrected."), ("b", "Beta", "Second.")))
    third = run_url(url, store, url_settings, "u3")
    assert [o.outcome for o in third] == ["updated", "duplicate"]
    updated = reads(store).get(first[0].id or "")
    assert updated is not None
    assert (updated.version, updated.text) == (2, "First, corrected.")
    state = store.feeds.state(url)
    assert (state["etag"], state["failures"], state["last_status"]) == ('"v2"', 0, "ok")
    assert counts_add_up(store)


def test_redelivered_input_refetches_unconditionally(
    server: FeedServer, store: Store, url_settings: Settings
) -> None:
    """Validators saved, then the worker died before the ack: the redelivery sees a 200."""
    server.route("/feed")(Publisher(rss(("a", "Alpha", "First."))))
    url = server.url("/feed")
    first = run_url(url, store, url_settings, "r1")
    store.client.hincrby(store.keys.stats, "enqueued", -1)  # the redelivery is the same input
    again = run_url(url, store, url_settings, "r1")
    assert again == first
    assert "if-none-match" not in server.seen[1].headers
    assert counts_add_up(store)


def test_redirected_feed_keeps_its_url_and_resolves_links_at_the_end(
    server: FeedServer, store: Store, url_settings: Settings
) -> None:
    server.route("/old")(lambda h: h.reply(301, Location="/moved/feed"))
    server.route("/moved/feed")(Publisher(rss(("a", "Moved", "Body."))))
    url = server.url("/old")
    [outcome] = run_url(url, store, url_settings, "m1")
    record = reads(store).get(outcome.id or "")
    assert record is not None
    assert (record.source, record.url) == (url, server.url("/story/a"))
    assert store.feeds.state(url)["etag"] == '"v1"'


def slow(h: Handler) -> None:
    """Headers at once, then one byte every half second: only the total deadline stops it."""
    h.send_response(200)
    h.send_header("Content-Length", "1000")
    h.end_headers()
    while not h.server.feeds.stop.wait(0.5):
        h.wfile.write(b" ")
        h.wfile.flush()


def test_slow_feed_times_out(server: FeedServer, store: Store, url_settings: Settings) -> None:
    server.route("/feed")(slow)
    settings = url_settings.model_copy(update={"feed_timeout": 1.5})
    [outcome] = run_url(server.url("/feed"), store, settings, "t1")
    assert (outcome.outcome, outcome.reason) == ("rejected", "feed.timeout")


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        (lambda h: h.reply(404, b"gone"), "feed.http_404"),
        (lambda h: h.reply(200, b"<html><body>a page</body></html>"), "feed.not_a_feed"),
        (lambda h: h.reply(200, b"x" * 2000), "feed.too_large"),
    ],
)
def test_a_failing_feed_is_one_rejection_and_a_failure(
    server: FeedServer, store: Store, url_settings: Settings, route: object, reason: str
) -> None:
    server.route("/feed")(route)  # type: ignore[arg-type]
    url = server.url("/feed")
    settings = url_settings.model_copy(update={"feed_max_bytes": 1000})
    [outcome] = run_url(url, store, settings, "f1")
    assert (outcome.input_id, outcome.outcome, outcome.reason) == ("f1", "rejected", reason)
    [rejection] = reads(store).rejections()
    assert (rejection.source, rejection.kind) == (url, InputKind.FEED_URL)
    state = store.feeds.state(url)
    assert (state["failures"], state["last_status"], state["etag"]) == (1, reason, None)
    assert counts_add_up(store)


def test_503_retry_after_sets_the_next_poll(
    server: FeedServer, store: Store, url_settings: Settings
) -> None:
    server.route("/feed")(lambda h: h.reply(503, b"busy", Retry_After="3600"))
    url = server.url("/feed")
    before = time.time()
    [outcome] = run_url(url, store, url_settings, "s1")
    assert (outcome.outcome, outcome.reason) == ("rejected", "feed.http_503")
    state = store.feeds.state(url)
    assert state["failures"] == 1
    assert state["next_poll"] >= before + 3600


def test_a_feed_recovers_after_failures(
    server: FeedServer, store: Store, url_settings: Settings
) -> None:
    answers = iter([503, 500, 200])

    def flaky(h: Handler) -> None:
        status = next(answers)
        h.reply(status, rss(("a", "Back", "Up again.")) if status == 200 else b"down")

    server.route("/feed")(flaky)
    url = server.url("/feed")
    schedule = store.feeds
    run_url(url, store, url_settings, "k1")
    run_url(url, store, url_settings, "k2")
    assert schedule.state(url)["failures"] == 2
    [created] = run_url(url, store, url_settings, "k3")
    state = schedule.state(url)
    assert (created.outcome, state["failures"], state["last_status"]) == ("created", 0, "ok")
    assert state["next_poll"] == pytest.approx(state["last_success"] + url_settings.feed_interval)


def test_blocked_address_sends_nothing(
    server: FeedServer, store: Store, settings: Settings
) -> None:
    """Default settings: loopback is refused before any connection is made."""
    [outcome] = run_url(server.url("/feed"), store, settings, "b1")
    assert (outcome.outcome, outcome.reason) == ("rejected", "feed.blocked_address")
    assert server.seen == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/feed"])
def test_other_schemes_are_never_read(store: Store, url_settings: Settings, url: str) -> None:
    [outcome] = run_url(url, store, url_settings, "x1")
    assert (outcome.outcome, outcome.reason) == ("rejected", "feed.bad_url")
    assert store.feeds.known() == []  # no state for it


@pytest.mark.slow
def test_a_feed_fetched_by_hand_leaves_state_that_expires(
    redis_url: str, server: FeedServer, store: Store
) -> None:
    server.route("/feed")(Publisher(rss(("a", "Alpha", "First."))))
    url = server.url("/feed")
    env = {"INGEST_FEED_ALLOWED_NETWORKS": LOOPBACK, "INGEST_FEED_STATE_TTL": "60"}
    result = ingest("run", "--feed", url, url=redis_url, INGEST_FEED_INTERVAL="10", **env)
    assert result.returncode == 0, result.stderr
    assert store.feeds.known() == [url]
    assert 0 < store.client.ttl(store.keys.feed_state(url)) <= 60
    store.client.delete(store.keys.feed_state(url))  # as its TTL will
    pruned = ingest("prune", "--json", url=redis_url)
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(pruned.stdout)["feeds"] == 1
    assert store.feeds.known() == []


@pytest.mark.slow
def test_ingest_run_feed_url_end_to_end(redis_url: str, server: FeedServer, store: Store) -> None:
    feed = Publisher(rss(("a", "Alpha", "First."), ("b", "Beta", "Second.")))
    server.route("/feed")(feed)
    url = server.url("/feed")

    def run() -> list[dict[str, object]]:
        result = ingest(
            "run", "--feed", url, "--json", url=redis_url, INGEST_FEED_ALLOWED_NETWORKS=LOOPBACK
        )
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    assert [(x["source"], x["outcome"]) for x in run()] == [(url, "created"), (url, "created")]
    assert run() == [
        {"source": url, "outcome": "duplicate", "id": None, "reason": "feed.not_modified"}
    ]
    feed.publish(rss(("a", "Alpha", "Changed."), ("b", "Beta", "Second.")))
    lines = run()
    assert [x["outcome"] for x in lines] == ["updated", "duplicate"]
    record = reads(store).get(str(lines[0]["id"]))
    assert record is not None
    assert record.version == 2
    assert counts_add_up(store)


@pytest.mark.slow
def test_beat_polls_subscribed_feeds(
    redis_url: str, server: FeedServer, store: Store, tmp_path: Path
) -> None:
    """`celery -A worker beat` and a worker: a subscribed feed is polled and stored."""
    server.route("/feed")(Publisher(rss(("a", "Polled", "By beat."))))
    url = server.url("/feed")
    feeds_file = tmp_path / "feeds.toml"
    feeds_file.write_text(f'[[feed]]\nurl = "{url}"\ninterval = 3600\n')
    extra = {
        "INGEST_FEEDS_FILE": str(feeds_file),
        "INGEST_FEED_POLL_EVERY": "1",
        "INGEST_FEED_POLL_SPREAD": "0",
        "INGEST_FEED_ALLOWED_NETWORKS": LOOPBACK,
    }
    worker = WorkerProcess(redis_url, **extra).start()
    beat_cmd = [sys.executable, "-m", "celery", "-A", "worker", "beat", "--loglevel", "INFO"]
    beat_cmd += ["--schedule", str(tmp_path / "beat-schedule")]
    beat = Child(beat_cmd, env_for(redis_url, **extra), name="beat").start()
    try:
        wait_until(lambda: store.stats()["records"] == 1, timeout=60, what="polled record")
        # More beats (one a second): the feed is not due again for an hour.
        sent = beat.output().count(DUE)
        beat.wait_for(lambda: beat.output().count(DUE) >= sent + 3, what="three more beats")
    finally:
        beat.signal_group(signal.SIGTERM)
        beat.wait(30)
        worker.stop()
    [record] = reads(store).records()
    assert (record.title, record.source) == ("Polled", url)
    assert server.paths == ["/feed"]
    state = store.feeds.state(url)
    assert (state["last_status"], state["failures"], state["interval"]) == ("ok", 0, 3600)
    assert state["next_poll"] > time.time() + 3000


def test_an_unreadable_feeds_file_fails_the_fetch_naming_it(
    server: FeedServer, store: Store, url_settings: Settings, tmp_path: Path
) -> None:
    """Fetching without the subscription's options would send a request nobody asked for."""
    server.route("/feed")(Publisher(rss(("a", "A", "Text."))))
    (tmp_path / "feeds.toml").write_text("[[feed]\n")
    settings = url_settings.model_copy(update={"feeds_file": tmp_path / "feeds.toml"})
    [outcome] = run_url(server.url(), Store(store.client, settings), settings, "bad-config")
    assert outcome.reason == "feed.bad_config"
    [rejection] = reads(store).rejections()
    assert "feeds.toml" in rejection.detail
    assert server.seen == []
