"""Inputs have an identity users can predict (docs/seeds.md, "Identity")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import redis

from tests.support.helpers import ingest, rss_bytes, seed_bytes
from worker.storage.store import Store


def run(url: str, *args: str) -> list[dict[str, Any]]:
    done = ingest("run", "--json", *args, url=url)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_an_edited_seed_enqueued_again_from_the_same_place_is_an_update(
    redis_url: str, store: Store, tmp_path: Path
) -> None:
    seed = tmp_path / "story.txt"
    seed.write_bytes(seed_bytes("A story", "First paragraph.", "Second paragraph."))
    [first] = run(redis_url, str(seed))
    seed.write_bytes(seed_bytes("A story", "First paragraph, corrected.", "Second paragraph."))
    # From another working folder, by another spelling of the same path: the same place.
    done = ingest(
        "run", "--json", "../" + tmp_path.name + "/story.txt", url=redis_url, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    [second] = [json.loads(line) for line in done.stdout.splitlines()]
    assert first["outcome"] == "created"
    assert (second["outcome"], second["id"]) == ("updated", first["id"])
    shown = ingest("records", "show", first["id"], "--json", url=redis_url)
    record = json.loads(shown.stdout)
    assert record["version"] == 2
    assert record["paragraphs"][0] == "First paragraph, corrected."
    events = redis.Redis.from_url(redis_url, decode_responses=True).xrange("test:stream:records")
    updated = [fields for _, fields in events if fields["event"] == "updated"]
    assert [(u["id"], u["paragraphs_changed"]) for u in updated] == [(first["id"], "0")]
    assert store.stats()["records"] == 1


def test_a_copy_under_another_name_is_a_duplicate(redis_url: str, tmp_path: Path) -> None:
    seed = tmp_path / "story.txt"
    seed.write_bytes(seed_bytes("A story", "Its paragraph."))
    shutil.copy(seed, tmp_path / "copy.txt")
    outcomes = run(redis_url, str(seed), str(tmp_path / "copy.txt"))
    assert [o["outcome"] for o in outcomes] == ["created", "duplicate"]
    assert outcomes[1]["id"] == outcomes[0]["id"]  # the record it duplicates


def test_two_different_files_never_share_a_record(redis_url: str, tmp_path: Path) -> None:
    """Two files of the same name in two folders, then each edited: four changes, two ids."""
    one, two = tmp_path / "one" / "story.txt", tmp_path / "two" / "story.txt"
    for path, text in ((one, "One's paragraph."), (two, "Two's paragraph.")):
        path.parent.mkdir()
        path.write_bytes(seed_bytes("A story", text))
    outcomes = run(redis_url, str(one), str(two))
    assert [o["outcome"] for o in outcomes] == ["created", "created"]
    assert outcomes[0]["id"] != outcomes[1]["id"]


def test_two_feed_files_of_the_same_name_are_two_feeds(redis_url: str, tmp_path: Path) -> None:
    one, two = tmp_path / "a" / "news.rss", tmp_path / "b" / "news.rss"
    for path, body in ((one, "From folder a."), (two, "From folder b.")):
        path.parent.mkdir()
        path.write_bytes(rss_bytes(("item-1", "Same guid", body)))
    outcomes = run(redis_url, "--feed", str(one), "--feed", str(two))
    assert [o["outcome"] for o in outcomes] == ["created", "created"]
    assert outcomes[0]["id"] != outcomes[1]["id"]
    # Each feed again, edited: an update of its own entry, never of the other's.
    one.write_bytes(rss_bytes(("item-1", "Same guid", "From folder a, edited.")))
    [again] = run(redis_url, "--feed", str(one))
    assert (again["outcome"], again["id"]) == ("updated", outcomes[0]["id"])
