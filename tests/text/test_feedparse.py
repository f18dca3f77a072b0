"""Feed parsing: a fixture corpus with expected results beside it, plus the edge cases.

Each ``tests/fixtures/feeds/NAME.xml`` has ``NAME.expected.json``: either
``{"rejected": reason}`` for a feed rejected as a whole, or the feed's version and title
and, per entry, the record fields (with ``id_key``, the documented id fallback key) or
``{"rejected": reason}``. The feeds are local files, so their source is the file name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.core.errors import Reason, RejectedInput
from worker.core.models import Record
from worker.text.feedparse import entry_id, parse_feed
from worker.text.htmltext import html_to_line, html_to_paragraphs
from worker.text.normalise import record_id
from worker.text.xmlsafe import neutralise_dtd

FIXTURES = Path(__file__).parents[1] / "fixtures" / "feeds"
FEEDS = sorted(FIXTURES.glob("*.xml"))
FIELDS = ("title", "published", "paragraphs", "url", "guid", "feed_title", "authors", "tags")
MAX = 10 * 1024 * 1024


def parse(data: bytes, source: str = "feed.xml") -> Any:
    return parse_feed(data, source, max_bytes=MAX)


def rss(items: str, head: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?>{head}<rss version="2.0"><channel><title>T</title>'
        f"<link>http://t.example/</link><description>d</description>{items}</channel></rss>"
    ).encode()


def test_corpus_covers_every_format() -> None:
    versions = {
        json.loads(p.with_suffix(".expected.json").read_text()).get("version") for p in FEEDS
    }
    assert {
        "rss090",
        "rss091n",
        "rss091u",
        "rss092",
        "rss10",
        "rss20",
        "atom03",
        "atom10",
    } <= versions


@pytest.mark.parametrize("path", FEEDS, ids=[p.stem for p in FEEDS])
def test_fixture(path: Path) -> None:
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text())
    data = path.read_bytes()
    if "rejected" in expected:
        with pytest.raises(RejectedInput) as info:
            parse(data, path.name)
        assert info.value.reason == expected["rejected"]
        return
    feed = parse(data, path.name)
    assert (feed.version, feed.title) == (expected["version"], expected["feed_title"])
    assert len(feed.entries) == len(expected["entries"])
    for got, want in zip(feed.entries, expected["entries"], strict=True):
        if "rejected" in want:
            assert isinstance(got, RejectedInput), got
            assert got.reason == want["rejected"]
            continue
        assert isinstance(got, Record), got
        dumped = got.model_dump(mode="json")
        assert {k: dumped[k] for k in FIELDS} == {k: want[k] for k in FIELDS}
        assert got.id == record_id("feed", path.name, want["id_key"])
        assert (got.kind, got.source, got.text) == ("feed", path.name, "\n\n".join(got.paragraphs))


@pytest.mark.parametrize("path", FEEDS, ids=[p.stem for p in FEEDS])
def test_no_fixture_expands_beyond_its_size(path: Path) -> None:
    """Entity attacks included: what comes out is never larger than what went in."""
    try:
        feed = parse(path.read_bytes(), path.name)
    except RejectedInput:
        return
    records = [e for e in feed.entries if isinstance(e, Record)]
    size = sum(len(r.title) + len(r.text) + len(r.feed_title or "") for r in records)
    assert size <= path.stat().st_size


def test_external_entities_are_never_read() -> None:
    feed = parse((FIXTURES / "entity-external-file.xml").read_bytes())
    [entry] = feed.entries
    assert isinstance(entry, Record)
    passwd = Path("/etc/passwd").read_text()[:20]
    assert passwd not in entry.title + entry.text
    assert "root:" not in entry.title + entry.text


def test_feed_bytes_naming_a_local_file_are_not_opened(tmp_path: Path) -> None:
    """feedparser.parse(b"/path") opens the file: the parser must hand it a stream."""
    secret = tmp_path / "secret.xml"
    secret.write_bytes(rss("<item><title>Secret</title><description>s</description></item>"))
    with pytest.raises(RejectedInput) as info:
        parse(str(secret).encode())
    assert info.value.reason == Reason.FEED_NOT_A_FEED


def test_file_url_body_is_not_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_bytes(rss("<item><title>Secret</title><description>s</description></item>"))
    with pytest.raises(RejectedInput) as info:
        parse(secret.as_uri().encode())
    assert info.value.reason == Reason.FEED_NOT_A_FEED


def test_size_cap_checked_first() -> None:
    with pytest.raises(RejectedInput) as info:
        parse_feed(b"x" * 101, "big.xml", max_bytes=100)
    assert info.value.reason == Reason.FEED_TOO_LARGE


@pytest.mark.parametrize("data", [b"", b"  \n", b"\x00\x01\x02binary", b"{}"])
def test_empty_or_garbage_is_not_a_feed(data: bytes) -> None:
    with pytest.raises(RejectedInput) as info:
        parse(data)
    assert info.value.reason == Reason.FEED_NOT_A_FEED


def test_changed_content_keeps_id_and_changes_hash() -> None:
    before = parse(rss("<item><title>A</title><guid>g</guid><description>one</description></item>"))
    after = parse(rss("<item><title>A</title><guid>g</guid><description>two</description></item>"))
    assert before.entries[0].id == after.entries[0].id
    assert before.entries[0].content_hash != after.entries[0].content_hash


def test_id_depends_on_the_feed() -> None:
    data = rss("<item><title>A</title><guid>g</guid><description>one</description></item>")
    assert parse(data, "a.xml").entries[0].id != parse(data, "b.xml").entries[0].id


def test_entry_id_fallback_order() -> None:
    assert entry_id("f", "g", "l", "t", "x") == record_id("feed", "f", "guid:g")
    assert entry_id("f", None, "l", "t", "x") == record_id("feed", "f", "link:l")
    assert entry_id("f", None, None, "t", "x") == record_id("feed", "f", "content:t\n\nx")
    assert entry_id("f\x1f", "g", None, "t", "x") == record_id("feed", "f ", "guid:g")


def test_missing_date_is_null_not_now() -> None:
    feed = parse(rss("<item><title>A</title><description>x</description></item>"))
    assert feed.entries[0].published is None


class TestNeutraliseDtd:
    def test_no_prolog_markup_is_untouched(self) -> None:
        data = rss("<item><title>A</title></item>")
        assert neutralise_dtd(data) == data

    def test_subset_removed_public_id_kept(self) -> None:
        doctype = b'<!DOCTYPE rss PUBLIC "-//Netscape//DTD" "x.dtd"'
        data = b'<?xml version="1.0"?>\n' + doctype + b' [<!ENTITY a "b">]>\n<rss/>'
        assert neutralise_dtd(data) == b'<?xml version="1.0"?>\n' + doctype + b">\n<rss/>"

    def test_quoted_brackets_and_comments_in_subset(self) -> None:
        data = b"""<!DOCTYPE r [<!-- ]> --><!ENTITY a ']>'><!ENTITY b "<c>">]><r>&a;</r>"""
        assert neutralise_dtd(data) == b"<!DOCTYPE r><r>&a;</r>"

    def test_stray_entity_declaration_removed(self) -> None:
        assert neutralise_dtd(b'<!ENTITY a "b"><r/>') == b"<r/>"

    def test_doctype_text_inside_the_document_is_content(self) -> None:
        data = b"<r><![CDATA[<!DOCTYPE x [<!ENTITY a 'b'>]>]]></r>"
        assert neutralise_dtd(data) == data

    def test_unclosed_subset_drops_the_rest(self) -> None:
        assert neutralise_dtd(b'<!DOCTYPE r [<!ENTITY a "b">') == b"<!DOCTYPE r>"

    def test_utf16_is_transcoded_and_neutralised(self) -> None:
        text = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY a "b">]><r>é</r>'
        out = neutralise_dtd(b"\xff\xfe" + text.encode("utf-16-le"))
        assert out == '<?xml version="1.0" encoding="utf-8"?><!DOCTYPE r><r>é</r>'.encode()


def test_deeply_nested_declarations_do_not_recurse() -> None:
    data = b"<!DOCTYPE x [" + b"<![" * 5000 + b"]><r/>"
    assert neutralise_dtd(data) == b"<!DOCTYPE x>"


SUBSET_PIECES = [
    b'\n<!ENTITY a "' + b"x" * 200 + b'">\n', b'\n<!ENTITY b "&a;&a;&a;&a;">\n',
    b"<!ENTITY c SYSTEM 'file:///etc/passwd'>", b"<!-- ]> -->", b"<?pi ]>?>", b"'", b'"',
    b"]", b"[", b"<", b">", b"<!ELEMENT r ANY>", b"\n",
]  # fmt: skip
TEXT_PIECES = [b"&a;", b"&b;", b"&c;", b"&amp;", b"text", b"<b>", b"<![CDATA[<i>]]>", b"&"]


@given(
    st.lists(st.sampled_from(SUBSET_PIECES), max_size=12).map(b"".join),
    st.lists(st.sampled_from(TEXT_PIECES), min_size=1, max_size=30).map(b"".join),
    st.booleans(),
)
def test_any_internal_subset_is_neutralised(subset: bytes, text: bytes, utf16: bool) -> None:
    """Whatever the subset declares, nothing expands and nothing but RejectedInput escapes."""
    data = rss(
        f"<item><title>T {text.decode()}</title><description>{text.decode()}</description></item>",
        head=f"\n<!DOCTYPE rss [{subset.decode()}]>\n",
    )
    if utf16:
        data = b"\xff\xfe" + data.decode().encode("utf-16-le")
    try:
        feed = parse(data)
    except RejectedInput:
        return
    for entry in feed.entries:
        if isinstance(entry, Record):
            assert len(entry.title) + len(entry.text) <= len(data)
            assert "root:" not in entry.title + entry.text


@pytest.mark.parametrize(
    ("html", "paragraphs"),
    [
        ("<p>a</p><p>b</p>", ["a", "b"]),
        ("one<br>two<br/><br />three", ["one two", "three"]),
        ("<div>x\n\ny</div>", ["x y"]),
        ("<script>bad()</script><style>p{}</style>ok", ["ok"]),
        ("&lt;b&gt;not bold&lt;/b&gt; &amp;amp;", ["<b>not bold</b> &amp;"]),
        ("<ul><li>1</li><li>2</li></ul>", ["1", "2"]),
        ("<p>Cafe\u0301&nbsp;&#8203;au lait</p>", ["Café au lait"]),
        ("<!-- hidden --><p onclick='x()'>shown</p>", ["shown"]),
        ("", []),
    ],
)
def test_html_to_paragraphs(html: str, paragraphs: list[str]) -> None:
    assert html_to_paragraphs(html) == paragraphs


def test_html_to_line_unescapes_and_strips() -> None:
    assert html_to_line("Tom &amp; <b>Jerry</b>\n &lt;3") == "Tom & Jerry <3"


@given(st.text())
def test_html_to_paragraphs_yields_normalised_paragraphs(html: str) -> None:
    for paragraph in html_to_paragraphs(html):
        assert paragraph
        assert paragraph == " ".join(paragraph.split())
