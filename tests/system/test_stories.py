"""One record per story, deletions that stay deleted, OPML in and out: real Redis, real
workers, a loopback feed server, and the real `ingest` commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.sources.feedserver import FeedServer
from tests.support.helpers import ingest, reads
from worker.core.settings import Settings
from worker.storage.retention import prune, trim_tombstones
from worker.storage.store import Store
from worker.text.opml import OpmlFeed, parse_opml

LOOPBACK = "127.0.0.0/8"
STORY = "<title>Bridge opens</title><description>Traffic flows from Monday.</description>"
OLD = "<pubDate>Tue, 02 Jan 2024 10:00:00 GMT</pubDate>"


def feed(guid: str, extra: str = "") -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        f"<item><guid>{guid}</guid><link>https://news.example/{guid}</link>{STORY}{extra}</item>"
        "</channel></rss>"
    ).encode()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    server.route("/a")(lambda h: h.reply(200, feed("a-1", OLD)))
    server.route("/b")(lambda h: h.reply(200, feed("b-9", OLD)))
    yield server
    server.close()


def run(redis_url: str, *urls: str) -> list[dict[str, str]]:
    args = [a for u in urls for a in ("--feed", u)]
    result = ingest(
        "run", *args, "--json", url=redis_url,
        INGEST_FEED_ALLOWED_NETWORKS=LOOPBACK, INGEST_FEED_HOST_DELAY="0",
        INGEST_RECORD_RETENTION_DAYS="30",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_the_same_story_from_two_feeds_is_one_record_that_knows_both(
    redis_url: str, server: FeedServer, store: Store
) -> None:
    [first] = run(redis_url, server.url("/a"))
    [second] = run(redis_url, server.url("/b"))
    assert (first["outcome"], second["outcome"]) == ("created", "duplicate")
    assert (second["id"], second["reason"]) == (first["id"], "record.same_content")
    record = reads(store).get(first["id"])
    assert record is not None
    assert [(s.source, s.url) for s in record.seen_in or []] == [
        (server.url("/a"), "https://news.example/a-1"),
        (server.url("/b"), "https://news.example/b-9"),
    ]
    assert store.stats()["records"] == 1
    [again] = run(redis_url, server.url("/b"))  # seen again: no third entry
    assert again["outcome"] == "duplicate"
    assert len(reads(store).get(first["id"]).seen_in or []) == 2  # type: ignore[union-attr]
    shown = ingest("records", "show", first["id"], url=redis_url, COLUMNS="200")
    assert f"seen in: {server.url('/b')} https://news.example/b-9" in shown.stdout


def test_a_pruned_entry_stays_deleted_and_consumers_hear_of_it(
    redis_url: str, server: FeedServer, store: Store, settings: Settings
) -> None:
    [created] = run(redis_url, server.url("/a"))
    pruned = ingest("prune", "--json", url=redis_url, INGEST_RECORD_RETENTION_DAYS="30")
    assert json.loads(pruned.stdout)["records"] == 1
    assert reads(store).get(created["id"]) is None
    tail = ingest("records", "tail", "--limit", "2", "--json", url=redis_url)
    events = [json.loads(line) for line in tail.stdout.splitlines()]
    assert [(e["event"], e["id"]) for e in events] == [
        ("created", created["id"]),
        ("deleted", created["id"]),
    ]
    assert events[1]["reason"] == "retention"
    # Still in its feed, and in another: neither brings it back.
    outcomes = run(redis_url, server.url("/a"), server.url("/b"))
    assert [(o["outcome"], o["reason"]) for o in outcomes] == [("duplicate", "record.deleted")] * 2
    assert store.stats()["records"] == 1  # the one created before the prune
    assert list(reads(store).records()) == []


def test_tombstones_expire_and_stay_bounded(store: Store, settings: Settings) -> None:
    key = store.keys.tombstones
    store.client.zadd(key, {f"id:{n}": 1000.0 + n for n in range(10)})
    trim_tombstones(Store(store.client, settings.model_copy(update={"tombstone_max": 3})), _at(0))
    assert store.client.zrange(key, 0, -1) == [f"id:{n}".encode() for n in range(4, 10)]
    prune(store, now=_at(1007.5))
    assert store.client.zrange(key, 0, -1) == [b"id:8", b"id:9"]


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def test_opml_import_appends_and_export_reads_back(redis_url: str, tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.toml"
    feeds.write_text('# my feeds\n[[feed]]\nurl = "https://a.example/rss"\ninterval = 60\n')
    opml = tmp_path / "in.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>'
        '<outline text="Tech"><outline text="Deep">'
        '<outline text="B news" xmlUrl="https://b.example/feed"/></outline>'
        '<outline text="A again" xmlUrl="https://a.example/rss"/></outline>'
        '<outline text="C" title="C daily" xmlUrl="https://c.example/atom"/>'
        '<outline text="dup" xmlUrl="https://c.example/atom"/>'
        "</body></opml>"
    )
    env = {"INGEST_FEEDS_FILE": str(feeds)}
    result = ingest("feeds", "import", str(opml), url=redis_url, **env)
    assert result.returncode == 0, result.stderr
    assert "added 2 feeds" in result.stderr  # the second c.example outline is the same feed
    assert "skipped 1 already there" in result.stderr
    text = feeds.read_text()
    assert text.startswith('# my feeds\n[[feed]]\nurl = "https://a.example/rss"\ninterval = 60\n')
    again = ingest("feeds", "import", str(opml), url=redis_url, **env)
    assert "added 0 feeds" in again.stderr
    assert feeds.read_text() == text
    exported = ingest("feeds", "export", url=redis_url, **env)
    assert exported.returncode == 0, exported.stderr
    back = tmp_path / "out.opml"
    back.write_text(exported.stdout)
    assert parse_opml(back.read_bytes()) == [
        OpmlFeed("https://a.example/rss"),
        OpmlFeed("https://b.example/feed", "B news", "Tech/Deep"),
        OpmlFeed("https://c.example/atom", "C daily"),
    ]
    bad = tmp_path / "bad.opml"
    bad.write_text("<html/>")
    refused = ingest("feeds", "import", str(bad), url=redis_url, **env)
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr
    assert feeds.read_text() == text
