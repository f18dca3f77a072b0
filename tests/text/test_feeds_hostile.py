"""Feeds whose entries hold hostile text, broken character references or too many entries."""

from __future__ import annotations

import pytest

from tests.support.helpers import rss_bytes
from worker.core.errors import Reason, RejectedInput
from worker.core.models import Record
from worker.text.feedparse import MAX_NAME_CHARS, MAX_NAMES, parse_feed
from worker.text.xmlsafe import keep_entries, neutralise_char_refs

MAX = 10**7


def _parse(data: bytes, **kw: int) -> list[Record | RejectedInput]:
    return parse_feed(data, "feed.xml", max_bytes=MAX, **kw).entries


@pytest.mark.parametrize(
    "ref", ["&#xD800;", "&#xdfff;", "&#1114112;", "&#x110000;", "&#99999999999;"]
)
def test_a_reference_to_no_character_rejects_its_entry_alone(ref: str) -> None:
    data = rss_bytes(("1", "first", "body one"), ("2", f"bad {ref}", "body"), ("3", "third", "b"))
    entries = _parse(data)
    assert [e.title for e in entries if isinstance(e, Record)] == ["first", "third"]
    bad = entries[1]
    assert isinstance(bad, RejectedInput)
    assert bad.reason == Reason.ENTRY_INVALID


def test_references_in_cdata_and_comments_are_left_alone() -> None:
    data = b"<a><!-- &#xD800; --><![CDATA[&#xD800;]]>&#xD800;&#27;&#x41;</a>"
    assert (
        neutralise_char_refs(data) == b"<a><!-- &#xD800; --><![CDATA[&#xD800;]]>&#xFDD0;&#x41;</a>"
    )


def test_control_characters_leave_every_field() -> None:
    extra = (
        "<author>Ann\x1b[2J &#x7;Lee</author><category>news\x07</category>"
        "<link>https://example.com/a\x1b</link>"
    )
    data = rss_bytes(("g\x1b1", "Title\x1b]0;x\x07", "Body \x1b[31mred"), extra=extra)
    data = data.replace(b"<title>Local news", b"<title>Local\x1b news")
    (entry,) = _parse(data)
    assert isinstance(entry, Record)
    for value in entry.model_dump(mode="json").values():
        for text in value if isinstance(value, list) else [value]:
            assert not isinstance(text, str) or ("\x1b" not in text and "\x07" not in text)
    assert entry.title == "Title]0;x"
    assert entry.authors == ["Ann[2J Lee"]
    assert entry.feed_title == "Local news"
    assert entry.url == "https://example.com/a"


def test_authors_and_tags_are_bounded() -> None:
    tags = "".join(f'<category term="tag {n}"/>' for n in range(50))
    authors = "".join(f"<author><name>Writer {n}</name></author>" for n in range(30))
    entry_xml = f"<entry><id>1</id><title>t</title><summary>b</summary>{authors}{tags}"
    long_tag = f'<category term="{"y" * 500}"/>'
    data = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title>'
        f"{entry_xml}{long_tag}</entry></feed>"
    ).encode()
    (entry,) = _parse(data)
    assert isinstance(entry, Record)
    assert entry.authors == [f"Writer {n}" for n in range(MAX_NAMES)]
    assert entry.tags == [f"tag {n}" for n in range(MAX_NAMES)]
    (entry,) = _parse(data.replace(tags.encode(), b""))
    assert isinstance(entry, Record)
    assert entry.tags == ["y" * MAX_NAME_CHARS]


def test_an_author_written_as_markup_loses_the_markup() -> None:
    extra = "<author>&lt;b title='x'&gt;Ann&lt;/b&gt;</author>"
    (entry,) = _parse(rss_bytes(("1", "t", "b"), extra=extra))
    assert isinstance(entry, Record)
    assert entry.authors == ["Ann"]


@pytest.mark.parametrize(
    ("link", "kept"),
    [
        ("https://example.com/a?b=c", True),
        ("http://example.com/", True),
        ("javascript:alert(1)", False),
        ("data:text/html,<script>", False),
        ("/relative/path", False),
        ("ftp://example.com/feed", False),
        ("https://example.com/" + "a" * 3000, False),
    ],
)
def test_url_is_an_absolute_http_url_or_absent(link: str, kept: bool) -> None:
    extra = f"<link>{link.replace('<', '&lt;')}</link>"
    (entry,) = _parse(rss_bytes(("1", "t", "b"), extra=extra))
    assert isinstance(entry, Record)
    assert entry.url == (link if kept else None)


def test_a_long_guid_is_cut() -> None:
    (entry,) = _parse(rss_bytes(("g" * 5000, "t", "b")))
    assert isinstance(entry, Record)
    assert entry.guid == "g" * 1024


def test_entries_past_the_cap_become_one_note() -> None:
    data = rss_bytes(*((str(n), f"title {n}", "body") for n in range(25)))
    entries = _parse(data, max_entries=10)
    assert [e.guid for e in entries[:10] if isinstance(e, Record)] == [str(n) for n in range(10)]
    note = entries[10]
    assert len(entries) == 11
    assert isinstance(note, RejectedInput)
    assert note.reason == Reason.FEED_TOO_MANY_ENTRIES
    assert "25 entries" in note.detail
    assert "15" in note.detail


def test_a_feed_at_the_cap_has_no_note() -> None:
    data = rss_bytes(*((str(n), f"title {n}", "body") for n in range(10)))
    assert len(_parse(data, max_entries=10)) == 10


def test_keep_entries_ignores_tags_in_cdata_and_comments() -> None:
    data = (
        b"<feed><entry>1</entry><!-- <entry> --><entry><![CDATA[<entry>]]></entry>"
        b"<a:entry/><entry>4</entry><link/></feed>"
    )
    cut, found = keep_entries(data, 2)
    assert found == 4
    assert (
        cut
        == b"<feed><entry>1</entry><!-- <entry> --><entry><![CDATA[<entry>]]></entry><link/></feed>"
    )
    assert keep_entries(data, 4) == (data, 0) or keep_entries(data, 4)[0] == data


@pytest.mark.parametrize("position", [0, 1, 3])
@pytest.mark.parametrize(
    "broken",
    [
        "<item><category><</item></category>",
        "<item><title>x</title><category><</item></category>",
        "<item><category><</item>",
        "<item><title>x</title><category><</category></item>",
    ],
)
def test_an_item_that_breaks_the_parser_is_rejected_alone(position: int, broken: str) -> None:
    """feedparser raises on some broken nesting; the other entries must not pay for it."""
    good = rss_bytes(("1", "first", "body one"), ("2", "second", "b"), ("3", "third", "b"))
    items = good.split(b"<item>")
    items.insert(position + 1, broken.removeprefix("<item>").encode())
    entries = _parse(b"<item>".join(items))
    assert [e.title for e in entries if isinstance(e, Record)] == ["first", "second", "third"]
    bad = entries[position]
    assert isinstance(bad, RejectedInput)
    # Alone, the broken item has no title (or trips the parser again): entry.* either way.
    assert bad.reason in (Reason.ENTRY_INVALID, Reason.ENTRY_NO_TITLE, Reason.ENTRY_NO_CONTENT)
    assert bad.detail.startswith(f"entry {position}: ")
