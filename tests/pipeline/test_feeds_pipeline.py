"""Feeds through the real pipeline: store scripts on real Redis, `ingest run --feed` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.helpers import (
    WorkerProcess,
    add_enqueued,
    counts_add_up,
    ingest,
    reads,
    rss_bytes,
    wait_until,
)
from worker.core.models import Envelope, InputKind, NotModified
from worker.core.settings import Settings
from worker.pipeline.process import process_batch
from worker.storage.store import Store


def rss(*items: tuple[str, str, str]) -> bytes:
    return rss_bytes(*items, extra="<pubDate>Tue, 05 Mar 2024 10:00:00 GMT</pubDate>")


def feed_message(data: bytes, input_id: str, source: str = "local.xml") -> dict[str, object]:
    env = Envelope(input_id=input_id, kind=InputKind.FEED, source=source, data=data)
    return env.model_dump(mode="json", exclude_none=True)


def test_feed_entries_become_records_one_outcome_each(store: Store, settings: Settings) -> None:
    data = rss(("a", "First", "One."), ("b", "", "No title."), ("c", "Third", "Three."))
    add_enqueued(store, 1)
    outcomes = process_batch([feed_message(data, "in1")], store, settings)
    assert [(o.input_id, o.outcome, o.reason) for o in outcomes] == [
        ("in1#0", "created", None),
        ("in1#1", "rejected", "entry.no_title"),
        ("in1#2", "created", None),
    ]
    assert counts_add_up(store)
    [rejection] = reads(store).rejections()
    assert (rejection.source, rejection.input_id) == ("local.xml", "in1#1")
    assert "entry 1" in rejection.detail
    assert not store.client.exists(store.keys.payload("in1#1"))


def test_redelivered_feed_changes_nothing(store: Store, settings: Settings) -> None:
    message = feed_message(rss(("a", "A", "x"), ("b", "B", "y")), "in2")
    add_enqueued(store, 1)
    first = process_batch([message], store, settings)
    again = process_batch([message], store, settings)
    assert [o.outcome for o in again] == [o.outcome for o in first] == ["created", "created"]
    stats = store.stats()
    assert (stats["records"], stats["expanded"], stats["record_events"]) == (2, 1, 2)
    assert counts_add_up(store)


def test_not_modified_is_one_idempotent_duplicate(store: Store) -> None:
    add_enqueued(store, 1)
    item = NotModified("in3", "https://example.com/feed")
    [first] = store.commit([item], reply_to="run1")
    [again] = store.commit([item], reply_to="run1")
    assert (first.outcome, first.reason, first.id) == ("duplicate", "feed.not_modified", None)
    assert again == first
    assert store.stats()["duplicates"] == 1
    assert counts_add_up(store)


def test_expand_is_idempotent_and_corrects_a_changed_count(store: Store) -> None:
    store.expand({"in4": 5})
    store.expand({"in4": 5})
    assert store.stats()["expanded"] == 4
    store.expand({"in4": 3})  # a redelivery that fetched a feed with fewer entries
    assert store.stats()["expanded"] == 2


@pytest.mark.slow
def test_run_feed_files_then_changed_entry_updates(
    redis_url: str, tmp_path: Path, store: Store
) -> None:
    feed = tmp_path / "local.xml"
    feed.write_bytes(rss(("a", "Alpha", "First body."), ("b", "Beta", "Second body.")))
    page = tmp_path / "page.xml"
    page.write_bytes(b"<html><body><p>not a feed</p></body></html>")
    first = ingest("run", "--feed", str(feed), "--feed", str(page), "--json", url=redis_url)
    assert first.returncode == 0, first.stderr
    lines = [json.loads(x) for x in first.stdout.splitlines()]
    assert [(x["source"], x["outcome"], x["reason"]) for x in lines] == [
        ("local.xml", "created", None),
        ("local.xml", "created", None),
        ("page.xml", "rejected", "feed.not_a_feed"),
    ]
    alpha_id = lines[0]["id"]

    feed.write_bytes(rss(("a", "Alpha", "First body, corrected."), ("b", "Beta", "Second body.")))
    second = ingest("run", "--feed", str(feed), "--json", url=redis_url)
    assert second.returncode == 0, second.stderr
    lines = [json.loads(x) for x in second.stdout.splitlines()]
    assert [(x["outcome"], x["id"]) for x in lines] == [
        ("updated", alpha_id),
        ("duplicate", lines[1]["id"]),
    ]
    record = reads(store).get(alpha_id)
    assert record is not None
    assert (record.version, record.text, record.kind) == (2, "First body, corrected.", "feed")
    events = [f[b"event"] for _, f in store.client.xrange(store.keys.record_events)]
    assert events == [b"created", b"created", b"updated"]
    assert counts_add_up(store)


@pytest.mark.slow
def test_enqueue_feed_file_and_stdin_for_workers(
    redis_url: str, tmp_path: Path, store: Store, worker_proc: WorkerProcess
) -> None:
    feed = tmp_path / "file.xml"
    feed.write_bytes(rss(("a", "From a file", "Body."), ("b", "Second", "Body two.")))
    piped = rss(("c", "From stdin", "Piped body."))
    result = ingest(
        "enqueue", "--feed", str(feed), "--feed", "-", "--json", url=redis_url, stdin=piped
    )
    assert result.returncode == 0, result.stderr
    queued = [json.loads(x) for x in result.stdout.splitlines()]
    assert [(q["source"], q["outcome"]) for q in queued] == [
        ("file.xml", "queued"),
        ("stdin", "queued"),
    ]
    wait_until(lambda: store.stats()["records"] == 3, timeout=60, what="feed entries stored")
    assert sorted(r.source for r in reads(store).records()) == ["file.xml", "file.xml", "stdin"]
    assert counts_add_up(store)


def test_enqueue_refuses_what_is_neither_file_nor_url(redis_url: str, tmp_path: Path) -> None:
    result = ingest("enqueue", "--feed", str(tmp_path / "missing.xml"), url=redis_url)
    assert result.returncode == 1
    assert "neither a feed file nor a feed URL" in result.stderr
    assert ingest("enqueue", url=redis_url).returncode == 2  # nothing to enqueue
