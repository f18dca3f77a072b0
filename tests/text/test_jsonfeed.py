"""JSON Feed parsing: fixtures with expected results beside them, plus the edge cases.

Each ``fixtures/jsonfeed/NAME.json`` has ``NAME.expected.json`` in the format of
``tests/fixtures/feeds`` (see ``tests/text/test_feedparse.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.core.errors import Reason, RejectedInput
from worker.core.models import Record
from worker.text.feedparse import parse_feed
from worker.text.jsonfeed import item_entry, looks_like_json_feed, parse_json_feed
from worker.text.normalise import record_id

FIXTURES = Path(__file__).parent / "fixtures" / "jsonfeed"
FEEDS = sorted(p for p in FIXTURES.glob("*.json") if not p.name.endswith(".expected.json"))
FIELDS = ("title", "published", "paragraphs", "url", "guid", "feed_title", "authors", "tags")
MAX = 10 * 1024 * 1024


def parse(data: bytes, source: str = "feed.json") -> Any:
    return parse_json_feed(data, source, max_bytes=MAX)


def feed(*items: Any, version: str = "1.1", **top: Any) -> bytes:
    document = {"version": f"https://jsonfeed.org/version/{version}", "items": list(items)}
    return json.dumps(document | top).encode()


def test_corpus_covers_both_versions() -> None:
    expected = [json.loads(p.with_name(p.stem + ".expected.json").read_text()) for p in FEEDS]
    assert {"json10", "json11"} <= {e.get("version") for e in expected}


@pytest.mark.parametrize("path", FEEDS, ids=[p.stem for p in FEEDS])
def test_fixture(path: Path) -> None:
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text())
    if "rejected" in expected:
        with pytest.raises(RejectedInput) as info:
            parse(path.read_bytes(), path.name)
        assert info.value.reason == expected["rejected"]
        return
    parsed = parse(path.read_bytes(), path.name)
    assert (parsed.version, parsed.title) == (expected["version"], expected["feed_title"])
    assert len(parsed.entries) == len(expected["entries"])
    for got, want in zip(parsed.entries, expected["entries"], strict=True):
        if "rejected" in want:
            assert isinstance(got, RejectedInput), got
            assert (got.reason, got.source) == (want["rejected"], path.name)
            continue
        assert isinstance(got, Record), got
        dumped = got.model_dump(mode="json")
        assert {k: dumped[k] for k in FIELDS} == {k: want[k] for k in FIELDS}
        assert got.id == record_id("feed", path.name, want["id_key"])


def test_same_item_as_rss_gives_the_same_record_fields() -> None:
    rss = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        b"<item><title>A &amp; B</title><guid>g1</guid><link>https://x.example/a</link>"
        b"<description>&lt;p&gt;One&lt;/p&gt;&lt;p&gt;Two&lt;/p&gt;</description>"
        b"<pubDate>Mon, 01 Jan 2024 10:00:00 GMT</pubDate><category>c</category></item>"
        b"</channel></rss>"
    )
    item = {
        "id": "g1",
        "title": "A &amp; B",
        "url": "https://x.example/a",
        "content_html": "<p>One</p><p>Two</p>",
        "date_published": "2024-01-01T10:00:00Z",
        "tags": ["c"],
    }
    [from_rss] = parse_feed(rss, "f", max_bytes=MAX).entries
    [from_json] = parse(feed(item, title="T"), "f").entries
    assert isinstance(from_rss, Record)
    assert isinstance(from_json, Record)
    assert from_json.model_dump(exclude={"ingested_at"}) == from_rss.model_dump(
        exclude={"ingested_at"}
    )


def test_size_cap_checked_first() -> None:
    with pytest.raises(RejectedInput) as info:
        parse_json_feed(b"{" * 101, "big.json", max_bytes=100)
    assert info.value.reason == Reason.FEED_TOO_LARGE


@pytest.mark.parametrize(
    "data", [b"", b"  ", b"null", b"{}", b'"text"', b"\xff\xfe{", b'{"version": 1, "items": []}']
)
def test_not_a_feed(data: bytes) -> None:
    with pytest.raises(RejectedInput) as info:
        parse(data)
    assert info.value.reason == Reason.FEED_NOT_A_FEED


def test_bom_is_accepted() -> None:
    data = b"\xef\xbb\xbf" + feed({"id": "1", "title": "t", "content_text": "x"})
    assert parse(data).version == "json11"


def test_later_minor_version_reads_as_11() -> None:
    assert parse(feed({"id": 1, "title": "t", "content_text": "x"}, version="1.2")).version == (
        "json11"
    )


@pytest.mark.parametrize(
    ("value", "guid"), [(7, "7"), (1.5, "1.5"), ("  s  ", "s"), (True, None), ([1], None)]
)
def test_ids(value: Any, guid: str | None) -> None:
    [entry] = parse(feed({"id": value, "title": "t", "content_text": "x"})).entries
    assert isinstance(entry, Record)
    assert entry.guid == guid


def test_item_authors_inherit_from_the_feed_when_it_names_none() -> None:
    top = {"authors": [{"name": "Feed"}]}
    own = {"id": "1", "title": "t", "content_text": "x", "author": {"name": "Own"}}
    inherited = {"id": "2", "title": "t", "content_text": "x"}
    first, second = parse(feed(own, inherited, **top)).entries
    assert isinstance(first, Record)
    assert isinstance(second, Record)
    assert (first.authors, second.authors) == (["Own"], ["Feed"])


def test_item_entry_carries_attachments_and_image() -> None:
    item = {
        "image": "https://i.example/a.png",
        "attachments": [
            {"url": "https://a.example/x.mp3", "mime_type": "audio/mpeg", "size_in_bytes": 3},
            {"url": "https://a.example/y.mp3", "size_in_bytes": True},
            "not an attachment",
        ],
    }
    entry = item_entry(item)
    assert entry["media_thumbnail"] == [{"url": "https://i.example/a.png"}]
    assert entry["enclosures"] == [
        {"href": "https://a.example/x.mp3", "type": "audio/mpeg", "length": 3},
        {"href": "https://a.example/y.mp3", "type": None, "length": None},
    ]


@pytest.mark.parametrize(
    ("data", "content_type", "expected"),
    [
        (b'{"version": 1}', None, True),
        (b'\xef\xbb\xbf  \n{"a": 1}', "text/plain", True),
        (b"[]", "application/feed+json; charset=utf-8", True),
        (b"[]", "application/json", True),
        (b"<rss/>", "application/json", False),
        (b'<?xml version="1.0"?><rss/>', "application/rss+xml", False),
        (b"", None, False),
    ],
)
def test_looks_like_json_feed(data: bytes, content_type: str | None, expected: bool) -> None:
    assert looks_like_json_feed(data, content_type) is expected


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
KEYS = st.sampled_from(
    ["id", "url", "external_url", "title", "content_html", "content_text", "summary",
     "date_published", "date_modified", "author", "authors", "tags", "attachments", "image"]
)  # fmt: skip


@given(st.lists(JSON | st.dictionaries(KEYS, JSON), max_size=5))
def test_any_items_give_a_record_or_a_rejection_each(items: list[Any]) -> None:
    if not items:
        with pytest.raises(RejectedInput, match=r"^feed\.empty:"):
            parse(feed())
        return
    parsed = parse(feed(*items))
    assert len(parsed.entries) == len(items)
    assert all(isinstance(e, Record | RejectedInput) for e in parsed.entries)


def test_items_past_the_cap_are_one_rejection() -> None:
    items = [{"id": str(n), "title": f"T{n}", "content_text": "x"} for n in range(5)]
    data = orjson.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items})
    parsed = parse_json_feed(data, "s", max_bytes=10**6, max_entries=3)
    assert [type(e).__name__ for e in parsed.entries] == ["Record"] * 3 + ["RejectedInput"]
    last = parsed.entries[-1]
    assert isinstance(last, RejectedInput)
    assert last.reason == Reason.FEED_TOO_MANY_ENTRIES


@pytest.mark.parametrize("depth", [1100, 100_000])
@pytest.mark.parametrize("where", ["_ext", "title", "tags"])
def test_an_item_nested_too_deep_is_rejected_alone(depth: int, where: str) -> None:
    good = [{"id": str(n), "title": f"Story {n}", "content_text": "Body."} for n in range(3)]
    marker = '"DEEP"'
    data = feed(good[0], {"id": "deep", "title": "Deep", "content_text": "x", where: "DEEP"},
                good[1], good[2])  # fmt: skip
    data = data.replace(marker.encode(), b"[" * depth + b'"\\"]{"' + b"]" * depth)
    entries = parse(data).entries
    assert [e.title for e in entries if isinstance(e, Record)] == ["Story 0", "Story 1", "Story 2"]
    bad = entries[1]
    assert isinstance(bad, RejectedInput)
    assert bad.reason == Reason.ENTRY_INVALID
    assert bad.detail.startswith("entry 1: nested deeper than")


def test_too_deep_outside_the_items_costs_no_item() -> None:
    data = feed({"id": "1", "title": "T", "content_text": "B."}, _ext="DEEP")
    [entry] = parse(data.replace(b'"DEEP"', b"[" * 2000 + b"]" * 2000)).entries
    assert isinstance(entry, Record)


def test_unbalanced_deep_nesting_is_still_not_json() -> None:
    with pytest.raises(RejectedInput) as info:
        parse(feed(_ext="DEEP").replace(b'"DEEP"', b"[" * 2000))
    assert info.value.reason == Reason.FEED_NOT_A_FEED
