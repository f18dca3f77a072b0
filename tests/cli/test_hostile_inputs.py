"""Hostile file names, missing paths, and stored text with terminal escapes, end to end."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.helpers import counts_add_up, ingest, old_record, reads, rss_bytes, seed_bytes
from worker.core.models import Accepted
from worker.storage.store import Store
from worker.text.changes import paragraph_hashes


def test_a_file_name_that_is_not_utf8_gets_an_outcome(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a-good.txt").write_bytes(seed_bytes("Good one"))
    (folder / os.fsdecode(b"bad\xff.txt")).write_bytes(seed_bytes("Bad name"))
    (folder / "esc\x1b[2J.txt").write_bytes(seed_bytes("Escape name"))
    (folder / "z-last.txt").write_bytes(seed_bytes("Last one"))
    run = ingest("run", "--json", str(folder), url=store.settings.redis_url)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    lines = [json.loads(x) for x in run.stdout.splitlines()]
    assert [x["source"] for x in lines] == [
        "a-good.txt",
        "bad\\xff.txt",
        "esc\\x1b[2J.txt",
        "z-last.txt",
    ]
    assert {x["outcome"] for x in lines} == {"created"}
    assert "\x1b" not in run.stdout + run.stderr


@pytest.mark.parametrize("command", ["run", "enqueue"])
def test_a_missing_path_fails_before_anything_is_published(
    store: Store, tmp_path: Path, command: str
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "one.txt").write_bytes(seed_bytes("One"))
    (folder / "two.txt").write_bytes(seed_bytes("Two"))
    missing = tmp_path / "missing.txt"
    # One input per task: the folder's batch would be published before the missing path.
    url = store.settings.redis_url
    result = ingest(command, str(folder), str(missing), url=url, INGEST_BATCH_SIZE="1")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {missing}: no such file or folder"
    assert store.stats()["enqueued"] == 0
    assert store.client.llen(store.settings.queue) == 0


def test_stored_escapes_are_never_printed_to_the_terminal(store: Store) -> None:
    hostile = old_record("Title \x1b]0;pwned\x07 [bold]x[/]", "Body \x1b[2J text", "f\x1b[31m.txt")
    store.commit([Accepted("in-1", hostile)])
    url = store.settings.redis_url
    for args in (("records", "show", hostile.id), ("records", "list")):
        result = ingest(*args, url=url)
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout
        assert "\x07" not in result.stdout
    shown = ingest("records", "show", hostile.id, url=url).stdout
    assert "Title \\x1b]0;pwned\\x07 [bold]x[/]" in shown
    assert "Body \\x1b[2J text" in shown


def test_controls_from_a_feed_are_stripped_before_storing(store: Store, tmp_path: Path) -> None:
    feed = tmp_path / "news\x1b[31m.xml"
    extra = "<author>Ann\x1b[2J</author><category>x\x07y</category>"
    feed.write_bytes(
        rss_bytes(("g1\x1b", "Bell\x07 title", "Body \x1b[2J\x1b[H text."), extra=extra)
    )
    run = ingest("run", "--json", "--feed", str(feed), url=store.settings.redis_url)
    assert run.returncode == 0, run.stderr
    (line,) = [json.loads(x) for x in run.stdout.splitlines()]
    record = reads(store).get(line["id"])
    assert record is not None
    assert record.model_dump(exclude={"published", "ingested_at", "id", "content_hash"}) == {
        "kind": "feed",
        "source": "news\\x1b[31m.xml",
        "title": "Bell title",
        "paragraphs": ["Body [2J[H text."],
        "text": "Body [2J[H text.",
        "word_count": 3,
        "version": 1,
        "url": None,
        "guid": "g1",
        "feed_title": "Local news",
        "authors": ["Ann[2J"],
        "tags": ["xy"],
        "media": None,
        "image": None,
        "seen_in": [{"source": "news\\x1b[31m.xml", "url": None}],
        "language": None,  # fewer than 20 letters
        "language_confidence": 0.0,
        "paragraph_hashes": paragraph_hashes(["Body [2J[H text."]),
        "cluster": record.id,
        "content_source": "feed",
        "summary": None,
        "full_text_error": None,
    }


def test_a_feed_over_the_entry_cap_keeps_its_first_entries(store: Store, tmp_path: Path) -> None:
    feed = tmp_path / "many.xml"
    items = [(str(n), f"Story {n}", "Body text.") for n in range(12)]
    items[2] = ("2", "Broken &#xD800; story", "Body text.")
    feed.write_bytes(rss_bytes(*items))
    url = store.settings.redis_url
    run = ingest("run", "--json", "--feed", str(feed), url=url, INGEST_FEED_MAX_ENTRIES="5")
    assert run.returncode == 0, run.stderr
    lines = [json.loads(x) for x in run.stdout.splitlines()]
    assert [x["outcome"] for x in lines] == ["created"] * 2 + ["rejected"] + ["created"] * 2 + [
        "rejected"
    ]
    assert lines[2]["reason"] == "entry.invalid"
    assert lines[5]["reason"] == "feed.too_many_entries"
    assert counts_add_up(store)
