"""OPML import and export: nesting, duplicates, hostile documents, and the round trip."""

from __future__ import annotations

import string
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.core.errors import ConfigError, OpmlError
from worker.text.normalise import normalise_inline
from worker.text.opml import MAX_DEPTH, MAX_FEEDS, OpmlFeed, export_opml, parse_opml

FIXTURES = Path(__file__).parent / "fixtures" / "opml"


def opml(body: str, head: str = "") -> bytes:
    return f'<?xml version="1.0"?>{head}<opml version="2.0"><body>{body}</body></opml>'.encode()


def test_reader_export_with_nested_folders() -> None:
    feeds = parse_opml((FIXTURES / "nested.opml").read_bytes())
    assert feeds == [
        OpmlFeed("https://top.example/feed.xml", "Top level", None),
        OpmlFeed("https://news.example/rss", "Daily News", "News"),
        OpmlFeed("https://py.example/atom.xml", "Python & Friends", "News/Tech/Python"),
        OpmlFeed("https://tech.example/feed", "Tech \"quoted\" 'both'", "News/Tech"),
        OpmlFeed("https://blog.example/feed", "Text only", "Blogs"),
        OpmlFeed("http://plain.example/", None, None),
    ]


def test_duplicates_keep_the_first() -> None:
    feeds = parse_opml(
        opml(
            '<outline text="A" xmlUrl="https://a.example/f"/>'
            '<outline text="F"><outline text="Again" xmlUrl="https://a.example/f"/></outline>'
        )
    )
    assert feeds == [OpmlFeed("https://a.example/f", "A")]


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "feed.xml", "file:///etc/passwd", "https://a.example/&#10;x", ""],
)
def test_non_http_urls_are_skipped(url: str) -> None:
    feeds = parse_opml(opml(f'<outline text="x" xmlUrl="{url}"/><outline xmlUrl="https://ok/"/>'))
    assert feeds == [OpmlFeed("https://ok/")]


def test_credentials_in_a_feed_url_refuse_the_import_in_one_line() -> None:
    body = '<outline xmlUrl="https://ok.example/f"/><outline xmlUrl="https://me:pw@x.example/f"/>'
    with pytest.raises(OpmlError) as info:
        parse_opml(opml(body))
    message = str(info.value)
    assert message.startswith("OPML: https://***@x.example/f: credentials in a feed URL")
    assert "pw" not in message.replace("OPML", "")
    assert "\n" not in message


def test_attribute_case_and_category_attribute() -> None:
    body = (
        '<outline TEXT="t" XMLURL="https://a.example/1" category="/Sport/Ball, /Other"/>'
        '<outline text="In folder" xmlurl="https://a.example/2"/>'
    )
    assert parse_opml(opml(body)) == [
        OpmlFeed("https://a.example/1", "t", "Sport/Ball"),
        OpmlFeed("https://a.example/2", "In folder"),
    ]


def test_billion_laughs_is_refused() -> None:
    with pytest.raises(OpmlError, match="entity declarations"):
        parse_opml((FIXTURES / "billion-laughs.opml").read_bytes())


def test_billion_laughs_in_utf16_is_refused() -> None:
    data = (FIXTURES / "billion-laughs.opml").read_text().replace('"utf-8"', '"utf-16"')
    with pytest.raises(OpmlError, match="entity declarations"):
        parse_opml(b"\xff\xfe" + data.encode("utf-16-le"))


def test_undefined_entity_is_an_error() -> None:
    with pytest.raises(OpmlError, match="undefined entity"):
        parse_opml(opml('<outline text="&xxe;" xmlUrl="https://a/"/>'))


def test_external_dtd_is_never_read() -> None:
    """With an external DTD expat cannot tell an undefined entity: it skips the reference."""
    head = '<!DOCTYPE opml SYSTEM "file:///etc/passwd">'
    data = opml('<outline text="a&xxe;b" xmlUrl="https://a/"/>', head=head)
    assert parse_opml(data) == [OpmlFeed("https://a/", "ab")]


def test_doctype_subset_without_entities_is_removed() -> None:
    data = opml('<outline xmlUrl="https://a/"/>', head="<!DOCTYPE opml [<!ELEMENT opml ANY>]>")
    assert parse_opml(data) == [OpmlFeed("https://a/")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not well-formed"),
        (b"not xml at all", "not well-formed"),
        (b"<opml><body>", "not well-formed"),
        (b'<rss version="2.0"><channel/></rss>', "root element is <rss>"),
        (b'<x:opml xmlns:x="urn:x"><body/></x:opml>', "root element is <{urn:x}opml>"),
        (b'<opml version="2.0"><head/></opml>', "no <body>"),
    ],
)
def test_not_opml(data: bytes, message: str) -> None:
    with pytest.raises(OpmlError, match=message) as info:
        parse_opml(data)
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, ValueError)


def test_size_and_count_caps() -> None:
    with pytest.raises(OpmlError, match="over the 10 cap"):
        parse_opml(opml(""), max_bytes=10)
    many = "".join(f'<outline xmlUrl="https://a.example/{n}"/>' for n in range(MAX_FEEDS + 1))
    with pytest.raises(OpmlError, match="more than"):
        parse_opml(opml(many))


def nested(depth: int) -> bytes:
    """A feed inside ``depth - 1`` nested folders."""
    inner = '<outline xmlUrl="https://deep/"/>'
    return opml('<outline text="f">' * (depth - 1) + inner + "</outline>" * (depth - 1))


def test_nesting_up_to_the_cap_is_read_without_recursion() -> None:
    [feed] = parse_opml(nested(MAX_DEPTH))
    assert feed.category == "/".join(["f"] * (MAX_DEPTH - 1))


def test_deeper_nesting_is_refused_in_linear_time() -> None:
    with pytest.raises(OpmlError, match=f"nested deeper than {MAX_DEPTH} levels"):
        parse_opml(nested(MAX_DEPTH + 1))
    started = time.perf_counter()
    with pytest.raises(OpmlError, match="nested deeper"):
        parse_opml(nested(60_000))  # quadratic, this took 8.6 s
    assert time.perf_counter() - started < 3


def test_export_escapes_and_nests() -> None:
    feeds = [
        OpmlFeed("https://a.example/?a=1&b=2", 'Tom & "Jerry" <3', "News/Tech"),
        OpmlFeed("https://b.example/", None, "News"),
        OpmlFeed("https://c.example/", "C\x00\x1b", None),
    ]
    data = export_opml(feeds, "My <feeds> & more")
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<opml version=\"2.0\">")
    assert b"<title>My &lt;feeds&gt; &amp; more</title>" in data
    assert b'title="Tom &amp; &quot;Jerry&quot; &lt;3"' in data
    assert b'xmlUrl="https://a.example/?a=1&amp;b=2"' in data
    assert b'<outline text="News" title="News">' in data
    assert b'text="https://b.example/"' in data
    assert parse_opml(data) == [*feeds[:2], OpmlFeed("https://c.example/", "C")]


def test_export_groups_each_folder_once() -> None:
    feeds = [
        OpmlFeed("https://1/", None, "A"),
        OpmlFeed("https://2/"),
        OpmlFeed("https://3/", None, "A"),
    ]
    data = export_opml(feeds, "t")
    assert data.count(b'text="A"') == 1
    assert parse_opml(data) == [feeds[0], feeds[2], feeds[1]]


PRINTABLE = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
NAME = st.text(PRINTABLE, min_size=1, max_size=20).map(normalise_inline).filter(bool)
SEGMENT = NAME.map(lambda s: normalise_inline(s.replace("/", " "))).filter(bool)
HOST = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12)
PATH = st.text(string.ascii_letters + string.digits + "-._~/?#[]@!$&'()*+,;=%", max_size=30)
FEED = st.builds(
    OpmlFeed,
    url=st.builds(
        lambda s, h, p: f"{s}://{h}.example/{p}", st.sampled_from(["http", "https"]), HOST, PATH
    ),
    title=st.none() | NAME,
    category=st.none() | st.lists(SEGMENT, min_size=1, max_size=3).map("/".join),
)


@given(st.lists(FEED, max_size=12, unique_by=lambda f: f.url), NAME)
def test_round_trip(feeds: list[OpmlFeed], title: str) -> None:
    back = parse_opml(export_opml(feeds, title))
    assert sorted(back, key=lambda f: f.url) == sorted(feeds, key=lambda f: f.url)
