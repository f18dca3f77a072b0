"""Full text from the article page: loopback pages, real Redis, a real worker (`ingest run`).

The page (tests/text/fixtures/pages/harbour_bridge.html) has a cookie banner, navigation,
a "most read" box, comments and a footer: none of them may end up in the record.
"""

from __future__ import annotations

import itertools
import json
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.sources.feedserver import FeedServer, Handler
from tests.support.helpers import add_enqueued, ingest, reads, rss_bytes
from worker.core.models import Accepted, Envelope, InputKind, Prepared, Record
from worker.core.settings import Settings
from worker.pipeline.feedplan import HostRules
from worker.pipeline.fulltext import FullText, page_reason, with_page
from worker.pipeline.process import process_batch
from worker.storage.hosts import Gate
from worker.storage.store import Store
from worker.text.normalise import content_hash

LOOPBACK = "127.0.0.0/8"
PAGES = Path(__file__).parents[1] / "text" / "fixtures" / "pages"
PAGE = (PAGES / "harbour_bridge.html").read_bytes()
EXPECTED = json.loads((PAGES / "harbour_bridge.expected.json").read_text(encoding="utf-8"))
SUMMARY = "The harbour bridge is open again."
LONG = " ".join(["Enough words in the feed itself to need no page."] * 10)


class Feed:
    """A feed behind conditional GET, whose items link to pages on the same server."""

    def __init__(self, *items: tuple[str, str, str]) -> None:
        self.items, self.version = list(items), 1

    def publish(self, *items: tuple[str, str, str]) -> None:
        self.items, self.version = list(items), self.version + 1

    def __call__(self, h: Handler) -> None:
        etag = f'"v{self.version}"'
        if h.headers.get("If-None-Match") == etag:
            h.reply(304, ETag=etag)
        else:
            body = rss_bytes(*self.items, extra="<link>/story/{guid}</link>")
            h.reply(200, body, ETag=etag, Content_Type="application/rss+xml")


@pytest.fixture
def server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    server.route("/story/bridge")(lambda h: h.reply(200, PAGE, Content_Type="text/html"))
    server.route("/story/json")(lambda h: h.reply(200, b"{}", Content_Type="application/json"))
    server.route("/story/empty")(
        lambda h: h.reply(
            200, b"<html><body><nav>Home</nav></body></html>", Content_Type="text/html"
        )
    )
    server.route("/story/long")(lambda h: h.reply(200, PAGE, Content_Type="text/html"))
    yield server
    server.close()


def feeds_file(tmp_path: Path, url: str, full_text: bool) -> Path:
    path = tmp_path / "feeds.toml"
    path.write_text(f'[[feed]]\nurl = "{url}"\nfull_text = {str(full_text).lower()}\n')
    return path


def by_guid(store: Store) -> dict[str, Record]:
    """Records by the last part of their guid (feedparser resolves guids against the feed URL)."""
    return {(r.guid or "").rsplit("/", 1)[-1]: r for r in reads(store).records()}


def test_short_entries_get_the_page_text_through_a_worker(
    redis_url: str, server: FeedServer, store: Store, tmp_path: Path
) -> None:
    feed = Feed(
        ("bridge", "Bridge reopens", SUMMARY),
        ("gone", "Gone", "A page that is not there."),
        ("json", "Data", "Not a page at all."),
        ("empty", "Empty", "A page with nothing in it."),
        ("long", "Long", LONG),
    )
    server.route("/feed")(feed)
    url = server.url("/feed")
    env = {
        "INGEST_FEED_ALLOWED_NETWORKS": LOOPBACK,
        "INGEST_FEEDS_FILE": str(feeds_file(tmp_path, url, True)),
        "INGEST_FEED_HOST_DELAY": "0.2",  # pages on the feed's host: polite, not slow
    }

    def run() -> list[dict[str, object]]:
        result = ingest("run", "--feed", url, "--json", url=redis_url, **env)
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    assert [line["outcome"] for line in run()] == ["created"] * 5
    records = by_guid(store)
    bridge = records["bridge"]
    assert (bridge.content_source, bridge.summary, bridge.full_text_error) == (
        "page",
        SUMMARY,
        None,
    )
    for snippet in EXPECTED["present"]:
        assert snippet in bridge.text
    for snippet in EXPECTED["absent"]:
        assert snippet not in bridge.text
    assert bridge.word_count > 80
    assert bridge.language == "en"
    errors = {g: (records[g].content_source, records[g].full_text_error) for g in records}
    assert errors == {
        "bridge": ("page", None),
        "gone": ("feed", "page.http_404"),
        "json": ("feed", "page.not_html"),
        "empty": ("feed", "page.no_text"),
        "long": ("feed", None),
    }
    assert records["gone"].text == "A page that is not there."
    assert "/story/long" not in server.paths  # long enough: no page fetched

    # The feed changes; the stored page text is kept without fetching the page again.
    feed.publish(("bridge", "Bridge reopens", SUMMARY), ("new", "New", LONG))
    assert [line["outcome"] for line in run()] == ["duplicate", "created"]
    assert server.paths.count("/story/bridge") == 1


def run_feed(store: Store, settings: Settings, url: str, input_id: str) -> None:
    add_enqueued(store, 1)
    env = Envelope(input_id=input_id, kind=InputKind.FEED_URL, source=url, url=url)
    process_batch([env.model_dump(mode="json", exclude_none=True)], store, settings)


def test_per_feed_switch_overrides_the_global_setting(
    server: FeedServer, store: Store, settings: Settings, tmp_path: Path
) -> None:
    server.route("/feed")(Feed(("bridge", "Bridge reopens", SUMMARY)))
    url = server.url("/feed")
    allowed = {"feed_allowed_networks": (LOOPBACK,)}
    off = settings.model_copy(
        update={**allowed, "full_text": True, "feeds_file": feeds_file(tmp_path, url, False)}
    )
    run_feed(store, off, url, "off")
    [record] = reads(store).records()
    assert (record.content_source, record.text) == ("feed", SUMMARY)
    assert server.paths == ["/feed"]

    on = settings.model_copy(update={**allowed, "feeds_file": feeds_file(tmp_path, url, True)})
    assert not on.full_text
    store.client.delete(store.keys.record(record.id))
    run_feed(store, on, url + "?again", "on")  # another URL: not in the feeds file
    assert "/story/bridge" not in server.paths
    store.client.delete(store.keys.feed_state(url))  # no 304 this time
    run_feed(store, on, url, "on-2")
    assert server.paths.count("/story/bridge") == 1


def test_a_bad_feeds_file_falls_back_to_the_global_setting(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    bad = tmp_path / "feeds.toml"
    bad.write_text("[[feed]]\nurl = 3\n")
    full = FullText(store, settings.model_copy(update={"feeds_file": bad, "full_text": True}))
    assert full.enabled("https://example.com/feed")


def test_page_reasons() -> None:
    assert page_reason("feed.http_404") == "page.http_404"
    assert page_reason("feed.blocked_address") == "page.blocked_address"
    assert page_reason("page.no_text") == "page.no_text"


def short_entry(page_url: str, n: int) -> Record:
    return Record(
        id=f"feed-{n:024x}",
        kind="feed",
        source="http://127.0.0.1/feed",
        title=f"Story {n}",
        published=None,
        paragraphs=[SUMMARY],
        text=SUMMARY,
        word_count=7,
        content_hash=content_hash(f"Story {n}", SUMMARY),
        ingested_at=datetime.now(UTC),
        version=1,
        url=page_url,
    )


def page_settings(settings: Settings, **update: object) -> Settings:
    return settings.model_copy(update={"feed_allowed_networks": (LOOPBACK,), **update})


def rules_of(settings: Settings) -> HostRules:
    return HostRules(settings.feed_host_concurrency, settings.feed_host_delay)


def test_a_page_host_blocked_longer_than_the_wait_is_not_fetched(
    server: FeedServer, store: Store, settings: Settings
) -> None:
    store.hosts.block("127.0.0.1", 60)
    polite = page_settings(settings)
    entry = short_entry(server.url("/story/bridge"), 1)
    record = with_page(entry, None, polite, store, rules_of(polite))
    assert (record.content_source, record.full_text_error) == ("feed", "page.host_backoff")
    assert record.text == SUMMARY
    assert server.paths == []


def test_a_page_answering_429_holds_back_pages_only_and_for_at_most_the_cap(
    server: FeedServer, store: Store, settings: Settings
) -> None:
    """A page's six-hour Retry-After must not stop every feed of its host: pages wait, and
    not longer than INGEST_FULL_TEXT_MAX_BACKOFF."""
    server.route("/story/busy")(lambda h: h.reply(429, b"slow down", Retry_After="21600"))
    polite = page_settings(settings, feed_host_delay=0.0, full_text_max_backoff=120)
    first = with_page(
        short_entry(server.url("/story/busy"), 1), None, polite, store, rules_of(polite)
    )
    assert first.full_text_error == "page.http_429"
    second = with_page(
        short_entry(server.url("/story/bridge"), 2), None, polite, store, rules_of(polite)
    )
    assert second.full_text_error == "page.host_backoff"
    assert server.paths == ["/story/busy"]
    assert 110 < store.hosts.pages_blocked("127.0.0.1") <= 120  # capped, on Redis's clock
    slot = store.hosts.acquire("127.0.0.1", "feed", concurrency=1, delay=0, lease=5, max_wait=0)
    assert slot.gate is Gate.GO  # a feed on that host goes at once
    store.hosts.release("127.0.0.1", "feed")
    # The same host spelt another way is held back as well.
    third = with_page(
        short_entry(server.url("/story/bridge", host="127.1"), 3), None, polite, store,
        rules_of(polite),
    )  # fmt: skip
    assert third.full_text_error == "page.host_backoff"


def test_pages_on_one_host_keep_the_host_delay_apart(
    server: FeedServer, store: Store, settings: Settings
) -> None:
    started: list[float] = []

    def page(h: Handler) -> None:
        started.append(time.monotonic())
        h.reply(200, PAGE, Content_Type="text/html")

    server.route("/story/timed")(page)
    polite = page_settings(settings, feed_host_delay=0.6, feed_host_wait=5.0)
    for n in range(3):
        entry = short_entry(server.url(f"/story/timed?{n}"), n)
        record = with_page(entry, None, polite, store, rules_of(polite))
        assert record.content_source == "page"
    assert len(started) == 3
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert all(gap >= 0.55 for gap in gaps), gaps


def slow_page(seconds: float) -> Callable[[Handler], None]:
    """A page route that answers after ``seconds``."""

    def route(h: Handler) -> None:
        time.sleep(seconds)  # the point: a page that takes this long
        h.reply(200, PAGE, Content_Type="text/html")

    return route


class Limit(Exception):
    """Raised from a signal handler mid-fetch, as Celery's soft time limit is."""


def test_a_soft_time_limit_during_pages_keeps_every_entry_with_its_feed_text(
    server: FeedServer, store: Store, settings: Settings
) -> None:
    server.route("/story/slow")(slow_page(3))  # still downloading when the soft limit strikes
    polite = page_settings(settings, feed_host_delay=0.0, full_text=True)
    items = [
        Accepted("a", short_entry(server.url("/story/slow"), 1)),
        Accepted("b", short_entry(server.url("/story/bridge"), 2)),
    ]

    def strike(_signum: int, _frame: object) -> None:
        raise Limit

    previous = signal.signal(signal.SIGALRM, strike)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        done = FullText(store, polite, timeouts=(Limit,)).complete(list(items))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    records = [d.record for d in done if isinstance(d, Accepted)]
    assert [(r.content_source, r.full_text_error) for r in records] == [
        ("feed", "page.timeout"),
        ("feed", "page.timeout"),
    ]
    assert [r.text for r in records] == [SUMMARY, SUMMARY]
    assert "/story/bridge" not in server.paths  # no page fetched once the limit struck


def test_pages_past_the_task_budget_keep_their_feed_text(
    server: FeedServer, store: Store, settings: Settings
) -> None:
    """Nine slow pages cannot hold a worker for minutes: the step stops at its budget."""

    server.route("/story/slow")(slow_page(1.0))
    polite = page_settings(settings, feed_host_delay=0.0, full_text=True, full_text_budget=2.5)
    items: list[Prepared] = [
        Accepted(str(n), short_entry(server.url(f"/story/slow?{n}"), n)) for n in range(9)
    ]
    start = time.monotonic()
    done = FullText(store, polite).complete(items)
    spent = time.monotonic() - start
    assert spent < 4.0, spent
    records = [d.record for d in done if isinstance(d, Accepted)]
    sources = [(r.content_source, r.full_text_error) for r in records]
    assert sources[:2] == [("page", None)] * 2
    assert sources[2:] == [("feed", "page.over_budget")] * 7
    assert [r.text for r in records[2:]] == [SUMMARY] * 7
    assert len(server.paths) == 3  # the third was cut off at the budget, the rest not asked
